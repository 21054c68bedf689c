//! `swarm`, benchmark P2: N agents that speak the real gearman protocol (gearman's own `link`
//! code: TLS, WebSocket, init, outbox, acks), many per process, against one Polaris started
//! here; it times `sync.bash true` sent to all of them through `POST /api/v1/commands`.
//!
//! For each N (cumulative: agents connected for a smaller N stay), after every agent shows in
//! `GET /api/v1/agents`, it runs warm-up rounds then `--rounds` timed ones and prints the p50
//! and p99 of the whole fan-out's latency, failures, the server's RSS and its CPU per round.
//!
//! Every agent has its own identity, as on a fleet: enrolled through Polaris's API (one token
//! for all, a key and CSR each; before the clock starts) and presented on its own connection,
//! which Polaris checks against the host `init` claims.
//!
//! The swarm's agents answer `sync.bash` without starting a process: this measures Polaris and
//! the wire. What one real gearman adds per command (fork, exec, pipes) is measured by the same
//! tool with `--real-agent`, which starts one real gearman instead of the swarm.

mod fake;
mod measure;
mod rollout;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;
use gearman::link::{self, LinkConfig, ServerName};

/// Benchmark P2: fan-out latency to N agents.
#[derive(Parser, Debug)]
#[command(about, long_about = None)]
struct Cli {
    /// Agent counts to measure, cumulative.
    #[arg(long, value_delimiter = ',', default_value = "1,100,1000,10000")]
    counts: Vec<usize>,
    /// Timed rounds per count.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// The polaris binary (default: beside this one).
    #[arg(long)]
    polaris: Option<PathBuf>,
    /// Work folder (default: a new temporary one).
    #[arg(long)]
    workdir: Option<PathBuf>,
    /// Measure one real gearman (forks `true` per command) instead of the swarm; N must be 1.
    #[arg(long)]
    real_agent: bool,
    /// Instead of fan-out rounds, roll a plugin release out to the N agents (issue 14): time
    /// from `POST /api/v1/rollouts` to done, and the server's CPU meanwhile.
    #[arg(long)]
    rollout: bool,
    /// Hosts in flight at once in `--rollout`.
    #[arg(long, default_value_t = 50)]
    max_concurrency: u32,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    raise_fd_limit();
    let temp;
    let work = match &cli.workdir {
        Some(dir) => dir.clone(),
        None => {
            temp = std::env::temp_dir().join(format!("swarm-{}", std::process::id()));
            temp
        }
    };
    std::fs::create_dir_all(&work)?;
    let exe_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("no executable folder")?;
    let polaris_bin = cli
        .polaris
        .clone()
        .unwrap_or_else(|| exe_dir.join("polaris"));
    let server = measure::Polaris::start(&polaris_bin, &work)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = if cli.real_agent {
        real_agent(&cli, &server, &exe_dir, &work)
    } else {
        runtime.block_on(swarm(&cli, &server, &work))
    };
    drop(server);
    if cli.workdir.is_none() {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

/// Enrolls hosts `swarm-<from>` .. `swarm-<to - 1>` with one token, from a few threads; their
/// keys and certificates go into `dir`.
fn enroll(
    enroller: &devpki::Enroller,
    dir: &Path,
    from: usize,
    to: usize,
) -> anyhow::Result<Vec<devpki::Identity>> {
    if from >= to {
        return Ok(Vec::new());
    }
    let token = enroller.token(u32::try_from(to - from)?)?;
    let threads = 4.min(to - from);
    let parts: Vec<anyhow::Result<Vec<(usize, devpki::Identity)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let token = &token;
                scope.spawn(move || {
                    (from + t..to)
                        .step_by(threads)
                        .map(|i| Ok((i, enroller.enroll_with(token, &format!("swarm-{i}"), dir)?)))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("enrolling thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(to - from);
    for part in parts {
        all.extend(part?);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, identity)| identity).collect())
}

async fn swarm(cli: &Cli, server: &measure::Polaris, work: &Path) -> anyhow::Result<()> {
    let mut connected = 0;
    let identities = work.join("identities");
    if cli.rollout {
        rollout::print_header();
    } else {
        measure::print_header();
    }
    // Every agent downloads its releases as gearman does, from Polaris's package server.
    let scratch = work.join("downloads");
    std::fs::create_dir_all(&scratch)?;
    let downloads = Arc::new(fake::Downloads {
        fetcher: fetch::Fetcher::new(
            fetch::http_agent("swarm", Some(&server.ca), Duration::from_secs(60), 0)?,
            Some((measure::PKG_USER.into(), measure::PKG_PASSWORD.into())),
            Duration::from_secs(60),
        ),
        scratch,
    });
    for &n in &cli.counts {
        let enrolling = Instant::now();
        let (enroller, dir, from) = (server.enroller.clone(), identities.clone(), connected);
        let enrolled =
            tokio::task::spawn_blocking(move || enroll(&enroller, &dir, from, n.max(from)))
                .await??;
        if !enrolled.is_empty() {
            eprintln!(
                "{} hosts enrolled in {:.1} s",
                enrolled.len(),
                enrolling.elapsed().as_secs_f64()
            );
        }
        let started = Instant::now();
        for identity in enrolled {
            let tls = link::client_config(&server.ca, &identity.cert, &identity.key)?;
            let config = LinkConfig {
                hostname: identity.hostname.clone(),
                version: "swarm".into(),
                servers: vec![ServerName {
                    host: "127.0.0.1".into(),
                    port: server.agent_port,
                }],
                default_port: server.agent_port,
                tls_name: measure::TLS_NAME.into(),
                tls,
                hosts_file: None,
                heartbeat: Duration::from_secs(30),
                backoff_min: Duration::from_millis(200),
                backoff_max: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(30),
            };
            let agent = fake::FakeAgent::downloading(downloads.clone());
            tokio::spawn(link::run(config, Arc::new(agent)));
            connected += 1;
            if connected % 200 == 0 {
                // Let handshakes drain instead of overflowing the listen backlog.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let hosts: Vec<String> = (0..n).map(|i| format!("swarm-{i}")).collect();
        let server2 = server.api.clone();
        tokio::task::spawn_blocking(move || {
            server2.wait_connected(connected, Duration::from_secs(600))
        })
        .await??;
        eprintln!(
            "{n} agents connected in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let server2 = server.api.clone();
        if cli.rollout {
            let max_concurrency = cli.max_concurrency;
            let row = tokio::task::spawn_blocking(move || {
                rollout::run(&server2, &hosts, max_concurrency)
            })
            .await??;
            row.print(n);
            continue;
        }
        let rounds = cli.rounds;
        let row = tokio::task::spawn_blocking(move || server2.measure(&hosts, rounds)).await??;
        row.print(n);
    }
    Ok(())
}

fn real_agent(
    cli: &Cli,
    server: &measure::Polaris,
    exe_dir: &Path,
    work: &Path,
) -> anyhow::Result<()> {
    if cli.counts != [1] {
        anyhow::bail!("--real-agent measures one agent: give --counts 1");
    }
    let mut agent = start_gearman(exe_dir, server, work)?;
    let outcome = (|| {
        server.wait_connected(1, Duration::from_secs(30))?;
        measure::print_header();
        let row = server.measure(&["real-0".to_string()], cli.rounds)?;
        row.print(1);
        anyhow::Ok(())
    })();
    let _ = agent.kill();
    let _ = agent.wait();
    outcome
}

fn start_gearman(exe_dir: &Path, server: &measure::Polaris, work: &Path) -> anyhow::Result<Child> {
    let identity = server.enroller.enroll("real-0", &work.join("identities"))?;
    let conf = work.join("gearman.conf");
    std::fs::write(
        &conf,
        format!(
            "hostname = \"real-0\"\nserver = \"127.0.0.1:{}\"\ntls_name = \"{}\"\nca = \"{}\"\n\
             cert = \"{}\"\nkey = \"{}\"\nstate_dir = \"{}\"\nsocket = \"{}\"\n",
            server.agent_port,
            measure::TLS_NAME,
            server.ca.display(),
            identity.cert.display(),
            identity.key.display(),
            work.join("gearman-state").display(),
            work.join("gearman.sock").display(),
        ),
    )?;
    Command::new(exe_dir.join("gearman"))
        .args(["-f", "-C"])
        .arg(&conf)
        .arg("-L")
        .arg(work.join("gearman.log"))
        .stdin(Stdio::null())
        .spawn()
        .context("start gearman")
}

fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}
