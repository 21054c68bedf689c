//! Running a real `nodus` for a test: a temporary directory with its config, plugin links,
//! control socket, state folder and log; `nodusctl` against it, or a raw request on its
//! socket (as gearman sends them); a restart on the same directory; SIGTERM at the end.

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
        let from = built.join(format!("libplugin_{name}.so"));
        assert!(from.exists(), "{} not built", from.display());
        std::os::unix::fs::symlink(&from, dir.join(format!("{name}.so"))).expect("link plugin");
    }
    for (from, name) in extra {
        std::os::unix::fs::symlink(from, dir.join(name)).expect("link plugin");
    }
}

/// The config lines every test config starts with: its plugin dir, socket, state folder and
/// types.db.
pub fn config_header(work: &Path) -> String {
    format!(
        "plugin_dir = {:?}\nsocket = {:?}\nstate_dir = {:?}\ntypes_db = [{:?}]\nlog_level = \"debug\"\n",
        work.join("plugins"),
        work.join("nodus.sock"),
        work.join("state"),
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
        let mut nodus = Nodus { child: None, work };
        nodus.launch();
        nodus
    }

    /// Starts `nodus -f` on the test's config and waits until its control socket answers.
    fn launch(&mut self) {
        let child = Command::new(bin("nodus"))
            .arg("-f")
            .arg("-C")
            .arg(self.path("nodus.conf"))
            .arg("-L")
            .arg(self.path("nodus.log"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start nodus");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.ctl(&["plugin", "list"]).status.success() {
            assert!(
                Instant::now() < deadline,
                "nodus did not come up: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops nodus with SIGTERM (asserting it exits 0) and starts it again on the same
    /// directory: config, plugins and state folder stay.
    pub fn restart(&mut self) {
        assert!(self.terminate(), "nodus exits 0 on SIGTERM: {}", self.log());
        self.launch();
    }

    /// The running nodus's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("nodus runs")
    }

    /// Sends one raw JSON request on the control socket, as gearman does, and returns the
    /// answer.
    pub fn request(&self, request: &Value) -> Value {
        use std::io::{BufRead as _, Write as _};
        let mut stream =
            std::os::unix::net::UnixStream::connect(self.path("nodus.sock")).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        let mut line = request.to_string();
        line.push('\n');
        stream.write_all(line.as_bytes()).expect("send request");
        let mut answer = String::new();
        std::io::BufReader::new(&stream)
            .read_line(&mut answer)
            .expect("read answer");
        serde_json::from_str(&answer).unwrap_or_else(|e| panic!("answer not JSON ({e}): {answer}"))
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
        self.terminate()
    }

    fn terminate(&mut self) -> bool {
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
