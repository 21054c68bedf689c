//! A fleet on one machine for the remote-execution tests: a real Polaris (SQLite in a temp
//! folder, HTTPS and the TLS agent listener with its own CA) and real gearman processes
//! connected to it, each with the identity its host enrolled through Polaris's API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bin;
use crate::server::ServerProcess;

/// The admin token of test servers.
pub const TOKEN: &str = "fleet-test-admin-token";

/// The name the test server certificates carry (and agents look up).
pub use crate::server::{SERVER_NAME, free_port};

/// The Polaris CA agents pin, and the enrollment of hosts through that Polaris.
#[derive(Debug, Clone)]
pub struct Ca {
    /// `ca.pem`.
    pub path: PathBuf,
    enroller: devpki::Enroller,
}

impl AsRef<Path> for Ca {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl Ca {
    /// Enrolls `hostname` (a token, a CSR, `POST /agent/enroll`); its key and certificate go
    /// into `dir` as `<hostname>.key` (0600) and `<hostname>.pem`.
    pub fn enroll(&self, hostname: &str, dir: &Path) -> devpki::Identity {
        self.enroller
            .enroll(hostname, dir)
            .unwrap_or_else(|e| panic!("enroll {hostname}: {e:#}"))
    }
}

/// A running Polaris with its TLS agent listener, killed when dropped; the process itself
/// (`restart`, `kill`, `log`, `call`, `dir`, `http`) through [`ServerProcess`].
pub struct Polaris {
    server: ServerProcess,
    /// The agents' TLS address.
    pub agents: String,
    /// The CA agents trust, and enrollment through this server.
    pub ca: Ca,
}

impl std::ops::Deref for Polaris {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.server
    }
}

impl std::ops::DerefMut for Polaris {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.server
    }
}

impl Polaris {
    /// Starts a server in `dir` with its agent listener on 127.0.0.1 and a new SQLite file.
    pub fn start(dir: &Path) -> Polaris {
        let agents = format!("127.0.0.1:{}", free_port());
        Self::start_with(dir, &agents, "")
    }

    /// Starts a server whose agent listener binds `agents`; `extra` is appended to `[agents]`.
    /// Polaris makes its CA in `dir/pki` and issues its server certificate (HTTPS and agents)
    /// for `localhost`, `127.0.0.1` and [`SERVER_NAME`].
    pub fn start_with(dir: &Path, agents: &str, extra: &str) -> Polaris {
        Self::wrap(
            ServerProcess::start(dir, TOKEN, &Self::listener(agents, extra)),
            agents,
        )
    }

    /// A replica of `of` in `dir`: its CA folder and database, its own agent listener at
    /// `agents` with `extra` in `[agents]` (a host enrolled on one is known to both).
    pub fn start_replica(dir: &Path, of: &Polaris, agents: &str, extra: &str) -> Polaris {
        let server = ServerProcess::start_on(
            dir,
            TOKEN,
            &of.ca_dir,
            &of.database,
            &Self::listener(agents, extra),
        );
        Self::wrap(server, agents)
    }

    fn listener(agents: &str, extra: &str) -> String {
        format!("[agents]\nlisten = \"{agents}\"\nheartbeat = 2\n{extra}\n")
    }

    fn wrap(server: ServerProcess, agents: &str) -> Polaris {
        let ca = Ca {
            path: server.ca.clone(),
            enroller: server.enroller(),
        };
        Polaris {
            server,
            agents: agents.to_string(),
            ca,
        }
    }

    /// `POST /api/v1/commands`, expecting 200; returns the answer.
    pub fn command(&self, body: Value) -> Value {
        let (status, answer) = self.call("POST", "/api/v1/commands", Some(&body));
        assert_eq!(status, 200, "{answer}");
        answer
    }

    /// The per-host entries of a command answer, by host name.
    pub fn by_host(answer: &Value) -> std::collections::BTreeMap<String, Value> {
        answer["response"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["host"].as_str().unwrap_or_default().to_string(),
                    e.clone(),
                )
            })
            .collect()
    }

    /// Host names of the agents connected now.
    pub fn connected(&self) -> Vec<String> {
        let (_, agents) = self.call("GET", "/api/v1/agents", None);
        agents
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["hostname"].as_str().map(String::from))
            .collect()
    }

    /// Waits until every one of `names` is connected.
    pub fn wait_connected(&self, names: &[&str], limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let connected = self.connected();
            if names.iter().all(|n| connected.iter().any(|c| c == n)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "agents {names:?} not connected (connected: {connected:?}); server log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// A running gearman, killed when dropped.
pub struct Gearman {
    child: Option<Child>,
    /// Its host name.
    pub name: String,
    /// Its folder (config, state, socket, log).
    pub dir: PathBuf,
    /// Extra program to run it under, e.g. `["ip", "netns", "exec", "ns1"]`.
    pub wrapper: Vec<String>,
}

impl Gearman {
    /// Writes a configuration for host `name` reaching `server` (a `host[:port]` list),
    /// trusting `ca` and presenting the identity of `name` (enrolled through `ca` into
    /// `dir/identity` unless it is there), plus `extra` TOML lines, and starts `gearman -f`.
    pub fn start(dir: &Path, name: &str, server: &str, ca: &Ca, extra: &str) -> Gearman {
        Self::start_wrapped(dir, name, server, ca, extra, &[])
    }

    /// As [`Gearman::start`], run under `wrapper` (e.g. `ip netns exec <ns>`).
    pub fn start_wrapped(
        dir: &Path,
        name: &str,
        server: &str,
        ca: &Ca,
        extra: &str,
        wrapper: &[&str],
    ) -> Gearman {
        std::fs::create_dir_all(dir).expect("gearman dir");
        let identity_dir = dir.join("identity");
        let (cert, key) = (
            identity_dir.join(format!("{name}.pem")),
            identity_dir.join(format!("{name}.key")),
        );
        if !cert.exists() {
            ca.enroll(name, &identity_dir);
        }
        std::fs::write(
            dir.join("gearman.conf"),
            format!(
                "hostname = \"{name}\"\nserver = \"{server}\"\ntls_name = \"{SERVER_NAME}\"\n\
                 ca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\nstate_dir = \"{}\"\nsocket = \"{}\"\n\
                 heartbeat = 2\nkill_grace = 1\nbackoff_max = 2\n{extra}\n",
                ca.path.display(),
                cert.display(),
                key.display(),
                dir.join("state").display(),
                dir.join("gearman.sock").display(),
            ),
        )
        .expect("write gearman.conf");
        let mut gearman = Gearman {
            child: None,
            name: name.into(),
            dir: dir.to_path_buf(),
            wrapper: wrapper.iter().map(|s| s.to_string()).collect(),
        };
        gearman.restart();
        gearman
    }

    /// Starts it again (after [`Gearman::kill9`]) with the same configuration and state.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("gearman.log"))
            .expect("gearman log");
        let gearman = bin("gearman");
        let mut command = match self.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&gearman);
                c
            }
            None => Command::new(&gearman),
        };
        let child = command
            .args(["-f", "-C"])
            .arg(self.dir.join("gearman.conf"))
            .env("GEARMAN_PLUGIN_DIR", crate::plugin_dir())
            .env("GEARMAN_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start gearman");
        self.child = Some(child);
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills gearman with SIGKILL (its detached tasks live on).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `gearctl` against this agent's socket.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(bin("gearctl"))
            .args(args)
            .arg("-s")
            .arg(self.dir.join("gearman.sock"))
            .output()
            .expect("run gearctl")
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("gearman.log")).unwrap_or_default()
    }
}

impl Drop for Gearman {
    fn drop(&mut self) {
        self.kill9();
    }
}
