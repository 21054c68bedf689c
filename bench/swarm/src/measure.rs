//! The Polaris under test (started here, on SQLite in the work folder, HTTPS with its own CA
//! in `<work>/pki`) and the measurement: fan-out rounds through the REST API, latency
//! percentiles, the server's RSS and CPU.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};

/// The name in the server certificate the agents check.
pub const TLS_NAME: &str = "polaris.swarm";
/// The package server's login (`{SHA}` of the password in the htpasswd file).
pub const PKG_USER: &str = "swarm";
/// The password of [`PKG_USER`].
pub const PKG_PASSWORD: &str = "sha-secret";
pub(crate) const TOKEN: &str = "swarm-benchmark-admin-token";
const WARMUP_ROUNDS: usize = 2;

/// A running Polaris, stopped when dropped.
pub struct Polaris {
    child: Child,
    /// How to reach it.
    pub api: Api,
}

/// The addresses and files of the Polaris under test.
#[derive(Clone)]
pub struct Api {
    pub(crate) http: String,
    pub(crate) pid: u32,
    /// The agents' TLS port.
    pub agent_port: u16,
    /// The CA file agents trust.
    pub ca: PathBuf,
    /// Enrolls the agents' hosts through the API.
    pub enroller: devpki::Enroller,
    /// HTTPS client trusting only the CA.
    pub(crate) client: ureq::Agent,
}

impl std::ops::Deref for Polaris {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Polaris {
    /// Writes a configuration in `work` (`[tls]`: Polaris makes its CA in `work/pki` and a
    /// server certificate for [`TLS_NAME`] and 127.0.0.1), starts `bin`, waits until it
    /// answers over HTTPS.
    pub fn start(bin: &Path, work: &Path) -> anyhow::Result<Polaris> {
        let ca_dir = work.join("pki");
        let http_port = free_port()?;
        let agent_port = free_port()?;
        let db = work.join("polaris.db");
        let _ = std::fs::remove_file(&db);
        let conf = work.join("polaris.toml");
        // A package server, for the plugin catalogue of `--rollout` (the agents download from
        // it with this login).
        std::fs::create_dir_all(work.join("packages"))?;
        std::fs::write(
            work.join("htpasswd"),
            format!("{PKG_USER}:{{SHA}}KkPcK3XYeA35EhWhKYmaCyAgadY=\n"),
        )?;
        std::fs::write(
            &conf,
            format!(
                "listen = \"127.0.0.1:{http_port}\"\ndatabase = \"sqlite://{}\"\n\
                 admin_token = \"{TOKEN}\"\nmax_body = 67108864\n\n\
                 [tls]\nca_dir = \"{}\"\nnames = [\"{TLS_NAME}\", \"127.0.0.1\"]\n\n[agents]\n\
                 listen = \"127.0.0.1:{agent_port}\"\nheartbeat = 30\n\n\
                 [packages]\nroot = \"{}\"\nhtpasswd = \"{}\"\n",
                db.display(),
                ca_dir.display(),
                work.join("packages").display(),
                work.join("htpasswd").display(),
            ),
        )?;
        let log = std::fs::File::create(work.join("polaris.log"))?;
        let child = Command::new(bin)
            .args(["serve", "-c"])
            .arg(&conf)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {}", bin.display()))?;
        let http = format!("127.0.0.1:{http_port}");
        let ca = ca_dir.join("ca.pem");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            if TcpStream::connect(&http).is_ok()
                && let Ok(client) = devpki::client(&ca, None)
                && client
                    .get(format!("https://{http}/api/openapi.json"))
                    .call()
                    .is_ok_and(|r| r.status() == 200)
            {
                break client;
            }
            if Instant::now() > deadline {
                anyhow::bail!("polaris did not answer on {http}; see {}", work.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok(Polaris {
            api: Api {
                enroller: devpki::Enroller::new(&http, &ca, TOKEN),
                http,
                pid: child.id(),
                agent_port,
                ca,
                client,
            },
            child,
        })
    }
}

impl Drop for Polaris {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One line of the report.
pub struct Row {
    p50: Duration,
    p99: Duration,
    max: Duration,
    failures: usize,
    rss_mb: f64,
    cpu_per_round: f64,
    swarm_rss_mb: f64,
    swarm_cpu_per_round: f64,
}

/// Prints the report's header.
pub fn print_header() {
    println!(
        "{:>7} {:>10} {:>10} {:>10} {:>9} {:>13} {:>16} {:>12} {:>15}",
        "agents",
        "p50 ms",
        "p99 ms",
        "max ms",
        "failures",
        "server RSS MB",
        "server CPU s/rnd",
        "swarm RSS MB",
        "swarm CPU s/rnd"
    );
}

impl Row {
    /// Prints the line for `n` agents.
    pub fn print(&self, n: usize) {
        println!(
            "{n:>7} {:>10.2} {:>10.2} {:>10.2} {:>9} {:>13.1} {:>16.3} {:>12.1} {:>15.3}",
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            self.failures,
            self.rss_mb,
            self.cpu_per_round,
            self.swarm_rss_mb,
            self.swarm_cpu_per_round
        );
    }
}

impl Api {
    /// Waits until `n` agents are connected: Polaris's own gauge (`/metrics`, a few bytes)
    /// while they come, then once the agent list (thousands of entries: not every 250 ms).
    pub fn wait_connected(&self, n: usize, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let gauge = self.connected_gauge()?;
            if gauge >= n {
                let agents = self.get("/api/v1/agents")?;
                if agents.as_array().map_or(0, Vec::len) >= n {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                anyhow::bail!("only {gauge} of {n} agents connected");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// `agents_connected` from Polaris's `/metrics`.
    fn connected_gauge(&self) -> anyhow::Result<usize> {
        let text = self
            .client
            .get(format!("https://{}/metrics", self.http))
            .call()
            .context("GET /metrics")?
            .body_mut()
            .read_to_string()?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("polaris_agents_connected "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as usize))
    }

    /// Warm-up, then `rounds` timed fan-outs of `sync.bash true` to `hosts`.
    pub fn measure(&self, hosts: &[String], rounds: usize) -> anyhow::Result<Row> {
        let mut times = Vec::with_capacity(rounds);
        let mut failures = 0;
        for _ in 0..WARMUP_ROUNDS {
            self.fan_out(hosts)?;
        }
        let cpu_before = cpu_seconds(self.pid)?;
        let me = std::process::id();
        let swarm_before = cpu_seconds(me)?;
        for _ in 0..rounds {
            let started = Instant::now();
            failures += self.fan_out(hosts)?;
            times.push(started.elapsed());
        }
        let cpu = cpu_seconds(self.pid)? - cpu_before;
        let swarm_cpu = cpu_seconds(me)? - swarm_before;
        times.sort();
        let at =
            |q: f64| times[((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1];
        Ok(Row {
            p50: at(0.5),
            p99: at(0.99),
            max: times.last().copied().unwrap_or_default(),
            failures,
            rss_mb: rss_kb(self.pid)? as f64 / 1024.0,
            cpu_per_round: cpu / rounds.max(1) as f64,
            swarm_rss_mb: rss_kb(me)? as f64 / 1024.0,
            swarm_cpu_per_round: swarm_cpu / rounds.max(1) as f64,
        })
    }

    /// One fan-out; returns how many hosts did not answer retcode 2 with exit status 0.
    fn fan_out(&self, hosts: &[String]) -> anyhow::Result<usize> {
        let body = json!({"hosts": hosts, "method": "sync.bash", "cmd": "true", "timeout": 30});
        let answer: Value = self
            .client
            .post(format!("https://{}/api/v1/commands", self.http))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .send_json(&body)
            .context("POST /api/v1/commands")?
            .body_mut()
            .read_json()?;
        let entries = answer["response"].as_array().cloned().unwrap_or_default();
        let ok = entries
            .iter()
            .filter(|e| e["retcode"] == 2 && e["exit_status"] == 0)
            .count();
        if entries.len() != hosts.len() {
            anyhow::bail!(
                "{} answers for {} hosts: {answer}",
                entries.len(),
                hosts.len()
            );
        }
        Ok(hosts.len() - ok)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .client
            .get(format!("https://{}{path}", self.http))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .call()
            .with_context(|| format!("GET {path}"))?
            .body_mut()
            .read_json()?)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// User + system CPU seconds of a process.
pub(crate) fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .map_or(100.0, |v| v as f64);
    Ok(ticks / hz)
}

/// Resident set size of a process, kB.
pub(crate) fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}
