//! One `polaris serve -c <config>` process for the tests: started on a free port with `[tls]`
//! (its own CA in `<dir>/pki`, made at first start), restarted on the same port, CA and
//! database, killed when dropped, and called over HTTPS (trusting only its CA) with the admin
//! token; hosts are enrolled through its API with [`ServerProcess::enroller`].

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bin;

/// A name the server certificate carries besides `localhost` and `127.0.0.1` (agents in other
/// network namespaces reach the server by it).
pub const SERVER_NAME: &str = "config.cargo.com";

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
    /// `127.0.0.1:<port>` of the REST API (HTTPS).
    pub http: String,
    /// The CA folder (`[tls] ca_dir`).
    pub ca_dir: PathBuf,
    /// The Polaris CA certificate, `<ca_dir>/ca.pem`: what clients and agents pin.
    pub ca: PathBuf,
    /// The database URL.
    pub database: String,
    token: String,
    conf: PathBuf,
}

impl ServerProcess {
    /// Writes `polaris.toml` into `dir`: `listen` (a free port), `database` (SQLite in `dir`),
    /// `admin_token`, `[tls]` with `ca_dir = <dir>/pki` and the names `localhost`, `127.0.0.1`
    /// and [`SERVER_NAME`], then `rest` (more TOML: tables such as `[agents]`); starts the
    /// server and waits until it answers over HTTPS.
    pub fn start(dir: &Path, token: &str, rest: &str) -> ServerProcess {
        let database = format!("sqlite://{}", dir.join("polaris.db").display());
        Self::start_on(dir, token, &dir.join("pki"), &database, rest)
    }

    /// As [`ServerProcess::start`], with the CA folder `ca_dir` and the database `database`
    /// given: a replica of the server that has them.
    pub fn start_on(
        dir: &Path,
        token: &str,
        ca_dir: &Path,
        database: &str,
        rest: &str,
    ) -> ServerProcess {
        std::fs::create_dir_all(dir).expect("polaris dir");
        let http = format!("127.0.0.1:{}", free_port());
        let conf = dir.join("polaris.toml");
        std::fs::write(
            &conf,
            format!(
                "listen = \"{http}\"\ndatabase = \"{database}\"\nadmin_token = \"{token}\"\n\n\
                 [tls]\nca_dir = \"{}\"\nnames = [\"localhost\", \"127.0.0.1\", \"{SERVER_NAME}\"]\n\n{rest}\n",
                ca_dir.display()
            ),
        )
        .expect("write polaris.toml");
        let mut server = ServerProcess {
            child: None,
            dir: dir.to_path_buf(),
            http,
            ca_dir: ca_dir.to_path_buf(),
            ca: ca_dir.join("ca.pem"),
            database: database.to_string(),
            token: token.to_string(),
            conf,
        };
        server.restart();
        server
    }

    /// Starts the server again (after [`ServerProcess::kill`]) on the same port, CA and
    /// database; returns once it answers over HTTPS (its TLS configurations read).
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
        loop {
            let answered = TcpStream::connect(&self.http).is_ok()
                && self.ca.exists()
                && self.try_call("GET", "/api/openapi.json", None).is_ok();
            if answered {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "polaris did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Enrolls hosts through this server's API (admin token, its CA pinned).
    pub fn enroller(&self) -> devpki::Enroller {
        devpki::Enroller::new(&self.http, &self.ca, &self.token)
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

    /// A request over HTTPS with the admin token; returns (status, JSON body or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.try_call(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// `POST /api/v1/plugins`: a plugin release (`manifest`, the `.so` at `file`) as the
    /// multipart form an admin's `curl -F` sends; the status and the answer.
    pub fn upload_plugin(&self, manifest: &Value, file: &Path) -> (u16, Value) {
        const BOUNDARY: &str = "polaris-e2e-boundary-7f3a9c";
        let bytes = std::fs::read(file).expect("read the plugin file");
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"manifest\"\r\n\
                 Content-Type: application/json\r\n\r\n{manifest}\r\n--{BOUNDARY}\r\n\
                 Content-Disposition: form-data; name=\"file\"; filename=\"plugin.so\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let agent = devpki::client(&self.ca, None).expect("https client");
        let mut response = agent
            .post(format!("https://{}/api/v1/plugins", self.http))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header(
                "Content-Type",
                &format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .send(&body[..])
            .expect("POST /api/v1/plugins");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// As [`ServerProcess::call`], with a failure to connect as an error (the server may be
    /// down).
    pub fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let agent = devpki::client(&self.ca, None).map_err(|e| format!("{e:#}"))?;
        let url = format!("https://{}{path}", self.http);
        let auth = format!("Bearer {}", self.token);
        let response = match (method, body) {
            ("GET", _) => agent.get(&url).header("Authorization", &auth).call(),
            (_, Some(body)) => agent
                .post(&url)
                .header("Authorization", &auth)
                .send_json(body),
            (_, None) => agent.post(&url).header("Authorization", &auth).send_empty(),
        };
        let mut response = response.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
