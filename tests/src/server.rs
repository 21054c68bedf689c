//! One `polaris serve -c <config>` process for the tests: started on a free port, restarted on
//! the same port and database, killed when dropped, and called with the admin token.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bin;

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A running Polaris, killed (SIGKILL) when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    /// Its folder (config, database, log).
    pub dir: PathBuf,
    /// `127.0.0.1:<port>` of the REST API.
    pub http: String,
    token: String,
    conf: PathBuf,
}

impl ServerProcess {
    /// Writes `polaris.toml` into `dir`: `listen` (a free port), `database` (SQLite in `dir`),
    /// `admin_token`, then `rest` (more TOML: tables such as `[agents]`); starts the server and
    /// waits until its API accepts connections.
    pub fn start(dir: &Path, token: &str, rest: &str) -> ServerProcess {
        std::fs::create_dir_all(dir).expect("polaris dir");
        let http = format!("127.0.0.1:{}", free_port());
        let conf = dir.join("polaris.toml");
        std::fs::write(
            &conf,
            format!(
                "listen = \"{http}\"\ndatabase = \"sqlite://{}\"\nadmin_token = \"{token}\"\n\n{rest}\n",
                dir.join("polaris.db").display()
            ),
        )
        .expect("write polaris.toml");
        let mut server = ServerProcess {
            child: None,
            dir: dir.to_path_buf(),
            http,
            token: token.to_string(),
            conf,
        };
        server.restart();
        server
    }

    /// Starts the server again (after [`ServerProcess::kill`]) on the same port and database.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("polaris.log"))
            .expect("polaris log");
        let child = Command::new(bin("polaris"))
            .args(["serve", "-c"])
            .arg(&self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start polaris");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&self.http).is_err() {
            assert!(
                Instant::now() < deadline,
                "polaris did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("polaris.log")).unwrap_or_default()
    }

    /// A request with the admin token; returns (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build()
            .into();
        let url = format!("http://{}{path}", self.http);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            (_, Some(body)) => agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = response.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
