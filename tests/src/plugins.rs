//! A host for the tests of plugins managed from Polaris (issue 14): a real Polaris, a gearman
//! connected to it whose plugin folder starts empty, an HTTP server for release files, and
//! the rollout fixture's releases (third-party, built outside the workspace).

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::files::{FileServer, checksum};
use crate::fleet::{Gearman, Polaris};

/// The rollout fixture's releases: 1.0.0, 2.0.0, and 3.0.0 whose `init` panics.
pub fn release(version: &str) -> &'static Path {
    static BUILT: OnceLock<[PathBuf; 3]> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        [
            crate::build_rollout_release("1.0.0", None),
            crate::build_rollout_release("2.0.0", None),
            crate::build_rollout_release("3.0.0", Some("init-panic")),
        ]
    });
    match version {
        "1.0.0" => &built[0],
        "2.0.0" => &built[1],
        _ => &built[2],
    }
}

/// A host: a real Polaris, a gearman connected to it whose plugin folder starts empty, and
/// the folder releases are served from.
pub struct Host {
    /// The agent.
    pub gearman: Gearman,
    /// Where releases are served from.
    pub files: FileServer,
    /// gearman's plugin folder.
    pub plugins: PathBuf,
    /// Its server (dropped after the agent).
    pub polaris: Polaris,
    _dir: tempfile::TempDir,
}

impl Host {
    /// `extra` is more gearman configuration (a release key, nodus's socket).
    pub fn start(extra: &str) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let polaris = Polaris::start(&dir.path().join("polaris"));
        let plugins = dir.path().join("plugins");
        std::fs::create_dir(&plugins).unwrap();
        chmod(&plugins, 0o755);
        let served = dir.path().join("served");
        std::fs::create_dir(&served).unwrap();
        let extra = format!("plugin_dir = {:?}\n{extra}", plugins);
        let gearman = Gearman::start(
            &dir.path().join("gearman"),
            "plugin-host",
            &polaris.agents,
            &polaris.ca,
            &extra,
        );
        let host = Host {
            gearman,
            files: FileServer::start(&served),
            plugins,
            polaris,
            _dir: dir,
        };
        host.wait_for_socket();
        host
    }

    pub fn wait_for_socket(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(self.socket()).is_err() {
            assert!(
                Instant::now() < deadline,
                "gearman did not start: {}",
                self.gearman.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.gearman.dir.join("gearman.sock")
    }

    /// One frame to the running agent over its socket; its result object.
    pub fn agent(&self, frame: Value) -> Value {
        let mut stream = UnixStream::connect(self.socket()).unwrap();
        stream.write_all(format!("{frame}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    }

    /// `getinfo.rollout` answered by the running agent (not by a fresh load in gearctl).
    pub fn rollout_version(&self) -> Value {
        let result = self.agent(json!({"method": "getinfo.rollout"}));
        result["data"]["version"].clone()
    }

    /// `gearctl -c <method> -a <params>` against the agent; its printed result object.
    pub fn ctl(&self, method: &str, params: &Value) -> Value {
        json_of(&self.gearman.ctl(&["-c", method, "-a", &params.to_string()]))
    }

    /// The release `version` of the rollout fixture, served under its own name.
    pub fn rollout(&self, agent: &str, version: &str) -> Value {
        let name = format!("rollout-{version}.so");
        let url = self.files.publish(release(version), &name);
        json!({"agent": agent, "name": "rollout", "version": version, "url": url,
               "checksum": checksum(release(version))})
    }

    /// The names of the files in the plugin folder (hidden ones too).
    pub fn plugin_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.plugins)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// gearman's entry of `plugin.list`.
    pub fn own_plugins(&self) -> Value {
        let list = self.agent(json!({"method": "plugin.list"}));
        assert_eq!(list["resp"], "success", "{list}");
        assert_eq!(list["data"]["agents"][0]["agent"], "gearman", "{list}");
        list["data"]["agents"][0].clone()
    }
}

/// Sets the mode of `path`.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The JSON a program printed (panics, showing its output, when it is not JSON).
pub fn json_of(out: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A result object's `message`.
pub fn message(result: &Value) -> &str {
    result["message"].as_str().unwrap_or_default()
}

/// The plugin called `name` in an agent's inventory entry.
pub fn find<'a>(agent: &'a Value, name: &str) -> Option<&'a Value> {
    agent["plugins"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}
