//! The BootAgent tests' machine: a real Polaris (`polaris serve -c`, HTTPS with its own CA,
//! SQLite, package server with basic auth), real `bootagent` processes enrolled with a token, packages made by the real `mkpkg`, and a real
//! vsftpd on loopback for `ftp://` downloads.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::bin;
use crate::server::{ServerProcess, free_port};

/// The admin token of the test server.
pub const TOKEN: &str = "boot-test-admin-token";
/// Package server user and password (`{SHA}` line, as `htpasswd -s` writes it).
pub const PKG_USER: &str = "boot";
/// The password of [`PKG_USER`].
pub const PKG_PASSWORD: &str = "sha-secret";
const PKG_HTPASSWD: &str = "boot:{SHA}KkPcK3XYeA35EhWhKYmaCyAgadY=\n";

/// Polls `f` every 100 ms until it returns `Some`, panicking with `what` and `context()`
/// after `limit` (a generous bound for a broken run, not a timing assertion).
pub fn wait_for<T>(
    limit: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: gave up waiting\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running Polaris with a package server, killed when dropped; the process itself
/// (`restart`, `kill`, `log`, `call`, `dir`, `http`) through [`ServerProcess`].
pub struct Server(ServerProcess);

impl std::ops::Deref for Server {
    type Target = ServerProcess;
    fn deref(&self) -> &ServerProcess {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut ServerProcess {
        &mut self.0
    }
}

impl Server {
    /// Starts a server in `dir`, its packages under `dir/packages` behind basic auth.
    pub fn start(dir: &Path) -> Server {
        std::fs::create_dir_all(dir.join("packages")).expect("packages dir");
        std::fs::write(dir.join("htpasswd"), PKG_HTPASSWD).expect("htpasswd");
        let packages = format!(
            "[packages]\nroot = \"{0}/packages\"\nhtpasswd = \"{0}/htpasswd\"\n",
            dir.display()
        );
        Server(ServerProcess::start(dir, TOKEN, &packages))
    }

    /// Puts `file` into the package root as `<sub>/<file name>`; returns its download URL
    /// (https, on the server's own listener).
    pub fn publish(&self, file: &Path, sub: &str) -> String {
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        let dir = self.dir.join("packages").join(sub);
        std::fs::create_dir_all(&dir).expect("package subdir");
        std::fs::copy(file, dir.join(&name)).expect("publish package");
        format!("https://{}/packages/{sub}/{name}", self.http)
    }

    /// The host as the admin API shows it (Null before its first report).
    pub fn host(&self, hostname: &str) -> Value {
        let (status, host) = self.call("GET", &format!("/api/v1/hosts/{hostname}"), None);
        if status == 200 { host } else { Value::Null }
    }

    /// The reported status of agent `name` on `hostname`, with its version.
    pub fn agent(&self, hostname: &str, name: &str) -> Option<(String, String)> {
        let host = self.host(hostname);
        host["agents"]
            .as_array()?
            .iter()
            .find(|a| a["name"] == name)
            .map(|a| {
                (
                    a["status"].as_str().unwrap_or_default().to_string(),
                    a["version"].as_str().unwrap_or_default().to_string(),
                )
            })
    }

    /// Creates a boot job for `hostname`; returns the job id.
    pub fn job(&self, hostname: &str, mut spec: Value) -> String {
        spec["hosts"] = json!([hostname]);
        let (status, job) = self.call("POST", "/api/v1/jobs", Some(&spec));
        assert_eq!(status, 201, "create job {spec}: {job}");
        job["id"].as_str().expect("job id").to_string()
    }

    /// The host's part of job `id` once it has a result: (errcode, message).
    pub fn job_result(&self, id: &str) -> Option<(u64, String)> {
        let (_, job) = self.call("GET", &format!("/api/v1/jobs/{id}"), None);
        let part = job["hosts"].as_array()?.first()?.clone();
        Some((
            part["errcode"].as_u64()?,
            part["message"].as_str().unwrap_or_default().to_string(),
        ))
    }
}

/// A running `bootagent -f`, killed (SIGKILL) when dropped; its agents are stopped then too.
pub struct Boot {
    child: Option<Child>,
    /// Its host name.
    pub hostname: String,
    /// Its folder (config, state, log).
    pub dir: PathBuf,
}

impl Boot {
    /// Writes a configuration reporting to `server` every second over https (its CA pinned,
    /// a new one-use enrollment token, the identity in `dir/identity`), plus `extra` TOML lines
    /// (`upgrade_watch` is 2 s unless `extra` sets it), and starts it.
    pub fn start(dir: &Path, hostname: &str, server: &Server, extra: &str) -> Boot {
        let watch = if extra.contains("upgrade_watch") {
            ""
        } else {
            "upgrade_watch = 2\n"
        };
        std::fs::create_dir_all(dir).expect("bootagent dir");
        let token = server
            .enroller()
            .token(1)
            .unwrap_or_else(|e| panic!("enrollment token: {e:#}"));
        std::fs::write(
            dir.join("bootagent.conf"),
            format!(
                "svrlist = \"https://{}\"\nca = \"{}\"\nenroll_token = \"{token}\"\n\
                 identity_dir = \"{}\"\nstep = 1\nhostname = \"{hostname}\"\nstate_dir = \"{}\"\n\
                 package_user = \"{PKG_USER}\"\npackage_password = \"{PKG_PASSWORD}\"\n\
                 {watch}timeout = 5\n{extra}\n",
                server.http,
                server.ca.display(),
                dir.join("identity").display(),
                dir.join("state").display()
            ),
        )
        .expect("write bootagent.conf");
        let mut boot = Boot {
            child: None,
            hostname: hostname.into(),
            dir: dir.to_path_buf(),
        };
        boot.restart();
        boot
    }

    /// Starts it again with the same configuration and state.
    pub fn restart(&mut self) {
        let child = Command::new(bin("bootagent"))
            .args(["-f", "-C"])
            .arg(self.dir.join("bootagent.conf"))
            .arg("-L")
            .arg(self.dir.join("bootagent.log"))
            .arg("-P")
            .arg(self.dir.join("bootagent.pid"))
            .env("BOOTAGENT_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start bootagent");
        self.child = Some(child);
    }

    /// Kills the BootAgent with SIGKILL; its agents live on.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("bootagent.log")).unwrap_or_default()
    }

    /// `<state>/agents/<name>`.
    pub fn agent_dir(&self, name: &str) -> PathBuf {
        self.dir.join("state/agents").join(name)
    }

    /// The version `current` points to.
    pub fn current(&self, name: &str) -> Option<String> {
        let link = std::fs::read_link(self.agent_dir(name).join("current")).ok()?;
        Some(link.file_name()?.to_string_lossy().to_string())
    }

    /// The pid of agent `name` as the BootAgent's state file records it.
    pub fn agent_pid(&self, name: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join("state/state.json")).ok()?;
        let state: Value = serde_json::from_str(&text).ok()?;
        state["agents"][name]["pid"].as_u64().map(|p| p as u32)
    }

    /// Stops every agent it started (SIGKILL to each recorded process group).
    pub fn kill_agents(&self) {
        let Ok(text) = std::fs::read_to_string(self.dir.join("state/state.json")) else {
            return;
        };
        let state: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        for (_, agent) in state["agents"].as_object().into_iter().flatten() {
            if let Some(pid) = agent["pid"].as_u64() {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pid}")])
                    .status();
                let _ = Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status();
            }
        }
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        self.kill9();
        self.kill_agents();
    }
}

/// Whether process `pid` exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(") ").map(|(_, rest)| !rest.starts_with('Z')))
        .unwrap_or(false)
}

/// Makes a package with the real `mkpkg pack` from a start script; returns (file, checksum).
pub fn script_package(dir: &Path, name: &str, version: &str, script: &str) -> (PathBuf, String) {
    signed_script_package(dir, name, version, script, None)
}

/// A release key pair made by the real `mkpkg keygen`.
pub struct ReleaseKeys {
    /// The secret key file (`--sign`).
    pub secret: PathBuf,
    /// The public key line, the BootAgent's `release_key`.
    pub line: String,
    /// Its key id as minisign shows it.
    pub id: String,
}

/// Runs `mkpkg keygen -o dir`.
pub fn release_keys(dir: &Path) -> ReleaseKeys {
    let out = Command::new(bin("mkpkg"))
        .arg("keygen")
        .arg("-o")
        .arg(dir)
        .output()
        .expect("run mkpkg keygen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "mkpkg keygen: {stdout}");
    let field = |prefix: &str, end: char| {
        stdout
            .lines()
            .find_map(|l| l.split_once(prefix).map(|(_, rest)| rest.to_string()))
            .and_then(|rest| rest.split(end).next().map(str::to_string))
            .unwrap_or_else(|| panic!("mkpkg keygen prints {prefix}: {stdout}"))
    };
    ReleaseKeys {
        secret: dir.join("minisign.key"),
        line: field("release_key = \"", '"'),
        id: field("(key id ", ')'),
    }
}

/// [`script_package`], signed with secret key `sign` (`mkpkg --sign`: `<file>.minisig`).
pub fn signed_script_package(
    dir: &Path,
    name: &str,
    version: &str,
    script: &str,
    sign: Option<&Path>,
) -> (PathBuf, String) {
    let work = dir.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&work).expect("package work dir");
    let run = work.join("run.sh");
    std::fs::write(&run, script).expect("write run.sh");
    let _ = Command::new("chmod").arg("755").arg(&run).status();
    let out = dir.join(format!("{name}-{version}.tar.gz"));
    let file = format!("{}=run.sh", run.display());
    let out = out.display().to_string();
    let mut args = vec![
        "pack",
        "--name",
        name,
        "--version",
        version,
        "--start",
        "./run.sh",
        "--file",
        &file,
        "-o",
        &out,
    ];
    let key = sign.map(|k| k.display().to_string());
    if let Some(key) = &key {
        args.extend(["--sign", key]);
    }
    mkpkg(&args)
}

/// Runs the real `mkpkg` and returns the (file, `SHA256:<hex>`) it printed.
pub fn mkpkg(args: &[&str]) -> (PathBuf, String) {
    let out = Command::new(bin("mkpkg"))
        .args(args)
        .output()
        .expect("run mkpkg");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "mkpkg {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (file, sum) = stdout
        .trim()
        .rsplit_once(' ')
        .expect("mkpkg prints `<file> SHA256:<hex>`");
    (PathBuf::from(file), sum.to_string())
}

/// A vsftpd serving `root` read-only to anonymous users on a free loopback port.
pub struct Ftp {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// The folder it serves.
    pub root: PathBuf,
}

impl Ftp {
    /// Starts vsftpd, or returns `None` (after a loud SKIPPED line) when it is not installed.
    pub fn start(dir: &Path) -> Option<Ftp> {
        let vsftpd = ["/usr/sbin/vsftpd", "/usr/bin/vsftpd"]
            .into_iter()
            .find(|p| Path::new(p).exists());
        let Some(vsftpd) = vsftpd else {
            eprintln!(
                "SKIPPED: vsftpd is not installed (apt-get install -y vsftpd); no ftp:// test"
            );
            return None;
        };
        let root = dir.join("ftproot");
        let empty = dir.join("ftpempty");
        for d in [dir, &root, &empty] {
            std::fs::create_dir_all(d).expect("ftp dirs");
            let _ = Command::new("chmod").arg("755").arg(d).status();
        }
        let port = free_port();
        let conf = dir.join("vsftpd.conf");
        std::fs::write(
            &conf,
            format!(
                "listen=YES\nlisten_ipv6=NO\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
                 anonymous_enable=YES\nanon_root={}\nno_anon_password=YES\nlocal_enable=NO\nwrite_enable=NO\n\
                 pasv_enable=YES\nseccomp_sandbox=NO\nsecure_chroot_dir={}\nxferlog_enable=YES\n\
                 vsftpd_log_file={}\n",
                root.display(),
                empty.display(),
                dir.join("vsftpd.log").display()
            ),
        )
        .expect("vsftpd.conf");
        let child = Command::new(vsftpd)
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start vsftpd");
        let addr = format!("127.0.0.1:{port}");
        wait_for(
            Duration::from_secs(10),
            "vsftpd listening",
            String::new,
            || TcpStream::connect(&addr).ok(),
        );
        Some(Ftp { child, addr, root })
    }

    /// Copies `file` into the served folder (world-readable, as vsftpd wants); returns its URL.
    pub fn publish(&self, file: &Path) -> String {
        let name = file
            .file_name()
            .expect("file name")
            .to_string_lossy()
            .to_string();
        let dest = self.root.join(&name);
        std::fs::copy(file, &dest).expect("copy to ftp root");
        let _ = Command::new("chmod").arg("644").arg(&dest).status();
        format!("ftp://{}/{name}", self.addr)
    }
}

impl Drop for Ftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
