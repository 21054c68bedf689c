//! Running a real `nodus` for a test: a temporary directory with its config, plugin links,
//! control socket and log; `nodusctl` against it; SIGTERM at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{bin, plugin_dir, workspace_root};

/// A directory of plugin links for nodus: built-in plugins by name, plus extra files.
pub fn plugin_links(dir: &Path, builtin: &[&str], extra: &[(&Path, &str)]) {
    std::fs::create_dir_all(dir).expect("create plugin dir");
    let built = plugin_dir();
    for name in builtin {
        let from = built.join(format!("lib{name}.so"));
        assert!(from.exists(), "{} not built", from.display());
        std::os::unix::fs::symlink(&from, dir.join(format!("{name}.so"))).expect("link plugin");
    }
    for (from, name) in extra {
        std::os::unix::fs::symlink(from, dir.join(name)).expect("link plugin");
    }
}

/// The config lines every test config starts with: its plugin dir, socket and types.db.
pub fn config_header(work: &Path) -> String {
    format!(
        "plugin_dir = {:?}\nsocket = {:?}\ntypes_db = [{:?}]\nlog_level = \"debug\"\n",
        work.join("plugins"),
        work.join("nodus.sock"),
        workspace_root().join("types.db"),
    )
}

/// A running nodus.
pub struct Nodus {
    child: Option<Child>,
    /// The test's directory (config, plugins, socket, log, csv output...).
    pub work: tempfile::TempDir,
}

impl Nodus {
    /// Writes `config_header` + the body `body(work dir)` gives and starts `nodus -f` on it
    /// with the given plugins; returns once the control socket answers.
    pub fn start_with(
        body: impl FnOnce(&Path) -> String,
        builtin: &[&str],
        extra: &[(&Path, &str)],
    ) -> Nodus {
        let work = tempfile::tempdir().expect("temp dir");
        plugin_links(&work.path().join("plugins"), builtin, extra);
        let config = work.path().join("nodus.conf");
        let body = body(work.path());
        std::fs::write(&config, format!("{}{body}", config_header(work.path())))
            .expect("write config");
        let child = Command::new(bin("nodus"))
            .arg("-f")
            .arg("-C")
            .arg(&config)
            .arg("-L")
            .arg(work.path().join("nodus.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start nodus");
        let nodus = Nodus {
            child: Some(child),
            work,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !nodus.ctl(&["plugin", "list"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "nodus did not come up: {}",
                nodus.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        nodus
    }

    /// A path inside the test's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Runs `nodusctl -s <socket> <args>`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(bin("nodusctl"))
            .arg("-s")
            .arg(self.path("nodus.sock"))
            .args(args)
            .output()
            .expect("run nodusctl")
    }

    /// `nodusctl --json plugin list`: every plugin's status object.
    pub fn list(&self) -> Vec<Value> {
        let out = self.ctl(&["--json", "plugin", "list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("list JSON");
        doc["plugins"].as_array().cloned().unwrap_or_default()
    }

    /// The status object of `name`, if loaded.
    pub fn plugin(&self, name: &str) -> Option<Value> {
        self.list().into_iter().find(|p| p["name"] == name)
    }

    /// Waits until `check` holds for the status of `name` (panics after `limit`).
    pub fn wait_for(&self, name: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.plugin(name).filter(|s| check(s)) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: condition not reached; list: {:?}\nlog:\n{}",
                self.plugin(name),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("nodus.log")).unwrap_or_default()
    }

    /// Stops nodus with SIGTERM and waits for it; returns whether it exited with 0.
    pub fn stop(mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nodus {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
