//! Benchmark P5: `logagent` against Debian's rsyslog (`imfile` → `omfwd` TCP), on the same
//! generated nginx-combined logs (several files, ≥ 1 GiB by default), one after the other on
//! this machine:
//!
//! 1. rsyslog reads the files (imfile, inotify mode, from their start) and forwards each line
//!    to a TCP sink on loopback (the template of `/work/shared/peers/rsyslog.sh`: the raw line);
//! 2. logagent reads them (`line` format, then `nginx`: parsed into fields) and sends them to
//!    the same kind of sink as RFC 5424 syslog (newline-framed);
//! 3. logagent ships them (`nginx` format) into a release Polaris on SQLite over mutual TLS.
//!
//! For each: MiB/s of log content (time from the shipper's start to the last byte at the sink,
//! or to the agent's last acknowledged offset for Polaris), CPU seconds per GiB, peak RSS, and
//! whether every line arrived; then logagent's CPU over ten idle seconds, and the ratios.
//!
//! Last, the many-files case of issue 16: 20,000 matched files of which 20 grow (a line each
//! every 100 ms for 20 s): logagent's CPU per second and its open descriptors meanwhile.

mod data;
mod proc;
mod sink;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Parser;

use crate::data::Data;
use crate::sink::Sink;

/// Benchmark P5: logagent against rsyslog imfile.
#[derive(Parser)]
struct Cli {
    /// MiB of log lines to generate.
    #[arg(long, default_value_t = 1024)]
    mib: u64,
    /// Files the lines are spread over.
    #[arg(long, default_value_t = 8)]
    files: usize,
    /// Work folder (the data is kept there and reused by the next run of the same size).
    #[arg(long, default_value = "/tmp/logship")]
    workdir: PathBuf,
    /// Skip rsyslog (when it is not installed).
    #[arg(long)]
    no_rsyslog: bool,
    /// Skip the Polaris run.
    #[arg(long)]
    no_polaris: bool,
    /// Skip logagent's TCP runs and the many-files case (the Polaris run alone, with
    /// `--no-rsyslog`).
    #[arg(long)]
    no_tcp: bool,
    /// Longest a run may take, in seconds.
    #[arg(long, default_value_t = 900)]
    timeout_s: u64,
    /// A top-level logagent.conf line for the Polaris run (`batch_records = 1000`), to try
    /// settings; repeat it for several.
    #[arg(long = "agent-set", value_name = "LINE")]
    agent_set: Vec<String>,
}

/// One shipper's run.
struct Run {
    name: String,
    seconds: f64,
    cpu_s: f64,
    rss_kb: u64,
    complete: bool,
    /// The receiving Polaris's CPU and peak RSS, for the Polaris run.
    server: Option<(f64, u64)>,
}

impl Run {
    fn mib_per_s(&self, data: &Data) -> f64 {
        data.bytes as f64 / 1_048_576.0 / self.seconds
    }

    fn cpu_per_gib(&self, data: &Data) -> f64 {
        self.cpu_s / (data.bytes as f64 / 1_073_741_824.0)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let exe_dir = std::env::current_exe()?
        .parent()
        .context("no folder of this program")?
        .to_path_buf();
    let started = Instant::now();
    let data = data::generate(&cli.workdir.join("data"), cli.mib, cli.files)?;
    eprintln!(
        "data: {} lines, {:.1} MiB in {} files ({:.0} s)",
        data.lines,
        data.bytes as f64 / 1_048_576.0,
        data.files.len(),
        started.elapsed().as_secs_f64()
    );
    let timeout = Duration::from_secs(cli.timeout_s);
    let mut runs = Vec::new();
    if !cli.no_rsyslog {
        runs.push(rsyslog(&data, &fresh(&cli.workdir, "rsyslog")?, timeout)?);
    }
    let logagent = exe_dir.join("logagent");
    let mut idle = None;
    let formats: &[&str] = if cli.no_tcp { &[] } else { &["line", "nginx"] };
    for &format in formats {
        let (run, idle_cpu) = logagent_tcp(
            &logagent,
            &data,
            &fresh(&cli.workdir, &format!("tcp-{format}"))?,
            format,
            timeout,
        )?;
        runs.push(run);
        idle = idle.or(Some(idle_cpu));
    }
    if !cli.no_polaris {
        runs.push(logagent_polaris(
            &logagent,
            &exe_dir.join("polaris"),
            &data,
            &fresh(&cli.workdir, "polaris")?,
            &cli.agent_set,
            timeout,
        )?);
    }
    let many = if cli.no_tcp {
        None
    } else {
        Some(many_files(&logagent, &fresh(&cli.workdir, "many")?)?)
    };
    report(&data, &runs, idle, many.as_ref());
    Ok(())
}

/// An empty folder `name` under `work`.
fn fresh(work: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = work.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    Ok(dir)
}

/// A child process that is killed when dropped.
struct Running(Child);

impl Running {
    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `logagent -t` on `conf`: a configuration this logagent refuses stops the benchmark with
/// its reasons rather than with a run that never starts.
fn check_config(bin: &Path, conf: &Path) -> anyhow::Result<()> {
    let out = Command::new(bin).arg("-t").arg("-C").arg(conf).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} -t -C {}: {}{}",
        bin.display(),
        conf.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn spawn(command: &mut Command, log: &Path) -> anyhow::Result<Running> {
    let out = std::fs::File::create(log)?;
    let child = command
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .with_context(|| format!("start {command:?}"))?;
    Ok(Running(child))
}

/// Waits until the sink holds every line (or nothing came for 30 s, or `timeout`); returns
/// the time from `start` to the last byte and whether every line came.
fn wait_for_sink(
    sink: &Sink,
    want: u64,
    start: Instant,
    timeout: Duration,
    shipper: &mut Running,
) -> (f64, bool) {
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let lines = sink.lines();
        let last = sink.last().unwrap_or(start);
        if lines >= want {
            return (last.duration_since(start).as_secs_f64(), true);
        }
        let stalled = last.elapsed() > Duration::from_secs(30);
        if stalled || start.elapsed() > timeout || !shipper.alive() {
            eprintln!("  stopped waiting: {lines} of {want} lines at the sink");
            return (last.duration_since(start).as_secs_f64(), false);
        }
    }
}

fn rsyslog(data: &Data, work: &Path, timeout: Duration) -> anyhow::Result<Run> {
    eprintln!("rsyslog imfile -> omfwd TCP ...");
    let sink = Sink::start()?;
    std::fs::create_dir_all(work.join("state"))?;
    let conf = work.join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{state}\" maxMessageSize=\"64k\")\n\
             module(load=\"imfile\" mode=\"inotify\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             ruleset(name=\"fwd\") {{\n  action(type=\"omfwd\" target=\"127.0.0.1\" port=\"{port}\" \
             protocol=\"tcp\" template=\"raw\" queue.type=\"LinkedList\" queue.size=\"100000\" \
             queue.dequeueBatchSize=\"1024\")\n}}\n\
             input(type=\"imfile\" File=\"{logs}/*.log\" Tag=\"bench\" Ruleset=\"fwd\" freshStartTail=\"off\")\n",
            state = work.join("state").display(),
            port = sink.port,
            logs = data.dir.display(),
        ),
    )?;
    let start = Instant::now();
    let mut rsyslogd = spawn(
        Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslogd.pid")),
        &work.join("rsyslogd.out"),
    )?;
    let (seconds, complete) = wait_for_sink(&sink, data.lines, start, timeout, &mut rsyslogd);
    Ok(Run {
        name: "rsyslog imfile -> TCP".into(),
        seconds,
        cpu_s: proc::cpu_seconds(rsyslogd.pid())?,
        rss_kb: proc::peak_rss_kb(rsyslogd.pid())?,
        complete,
        server: None,
    })
}

/// The `[[source]]` of the generated files.
fn source(data: &Data, format: &str) -> String {
    format!(
        "[[source]]\nname = \"access\"\npath = \"{}/*.log\"\nformat = \"{format}\"\nfrom_start = true\n",
        data.dir.display()
    )
}

/// The settings every logagent run shares: its state and socket in `work`.
fn agent_common(work: &Path) -> String {
    format!(
        "state_dir = {:?}\nsocket = {:?}\nlog_level = \"warn\"\n",
        work.join("state"),
        work.join("logagent.sock")
    )
}

fn logagent_tcp(
    bin: &Path,
    data: &Data,
    work: &Path,
    format: &str,
    timeout: Duration,
) -> anyhow::Result<(Run, f64)> {
    eprintln!("logagent ({format}) -> syslog TCP ...");
    let sink = Sink::start()?;
    let (start, mut agent) = start_tcp_agent(bin, work, &sink, &source(data, format))?;
    let (seconds, complete) = wait_for_sink(&sink, data.lines, start, timeout, &mut agent);
    let cpu_s = proc::cpu_seconds(agent.pid())?;
    let rss_kb = proc::peak_rss_kb(agent.pid())?;
    // Idle: every line shipped, nothing grows.
    std::thread::sleep(Duration::from_secs(2));
    let before = proc::cpu_seconds(agent.pid())?;
    std::thread::sleep(Duration::from_secs(10));
    let idle = (proc::cpu_seconds(agent.pid())? - before) / 10.0;
    Ok((
        Run {
            name: format!("logagent {format} -> TCP"),
            seconds,
            cpu_s,
            rss_kb,
            complete,
            server: None,
        },
        idle,
    ))
}

/// Starts logagent on `sources`, writing syslog (newline-framed) to `sink`, its state in
/// `work`, after `logagent -t` accepted the configuration; returns when it was started.
fn start_tcp_agent(
    bin: &Path,
    work: &Path,
    sink: &Sink,
    sources: &str,
) -> anyhow::Result<(Instant, Running)> {
    let conf = work.join("logagent.conf");
    std::fs::write(
        &conf,
        format!(
            "{}\n[syslog]\naddress = \"127.0.0.1:{}\"\nframing = \"lf\"\n\n{sources}",
            agent_common(work),
            sink.port,
        ),
    )?;
    check_config(bin, &conf)?;
    let start = Instant::now();
    let agent = spawn(
        Command::new(bin).arg("-f").arg("-C").arg(&conf),
        &work.join("logagent.out"),
    )?;
    Ok((start, agent))
}

const TOKEN: &str = "logship-benchmark-admin-token";

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Bytes the agent has had acknowledged, from its control socket.
fn acknowledged(socket: &Path) -> u64 {
    use std::io::Read as _;
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else {
        return 0;
    };
    let mut text = String::new();
    if stream.read_to_string(&mut text).is_err() {
        return 0;
    }
    let snapshot: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    snapshot["sources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["offset"].as_u64())
        .sum()
}

fn logagent_polaris(
    bin: &Path,
    polaris: &Path,
    data: &Data,
    work: &Path,
    agent_set: &[String],
    timeout: Duration,
) -> anyhow::Result<Run> {
    eprintln!("logagent (nginx) -> Polaris on SQLite ...");
    let addr = format!("127.0.0.1:{}", free_port()?);
    let ca_dir = work.join("pki");
    let conf = work.join("polaris.toml");
    std::fs::write(
        &conf,
        format!(
            "listen = \"{addr}\"\ndatabase = \"sqlite://{}\"\nadmin_token = \"{TOKEN}\"\n\n\
             [tls]\nca_dir = \"{}\"\nnames = [\"127.0.0.1\"]\n",
            work.join("polaris.db").display(),
            ca_dir.display()
        ),
    )?;
    let mut server = spawn(
        Command::new(polaris).arg("serve").arg("-c").arg(&conf),
        &work.join("polaris.log"),
    )?;
    let enroller = devpki::Enroller::new(&addr, &ca_dir.join("ca.pem"), TOKEN);
    let up = Instant::now();
    let identity = loop {
        match enroller.enroll("logship", &work.join("identity")) {
            Ok(identity) => break identity,
            Err(e) if up.elapsed() > Duration::from_secs(30) || !server.alive() => {
                anyhow::bail!(
                    "Polaris did not start (see {}): {e:#}",
                    work.join("polaris.log").display()
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    };
    let agent_conf = work.join("logagent.conf");
    std::fs::write(
        &agent_conf,
        format!(
            "polaris = \"https://{addr}\"\nca = {:?}\ncert = {:?}\nkey = {:?}\n{}\n{}\n{}",
            ca_dir.join("ca.pem"),
            identity.cert,
            identity.key,
            agent_common(work),
            agent_set.join("\n"),
            source(data, "nginx")
        ),
    )?;
    check_config(bin, &agent_conf)?;
    let server_cpu_before = proc::cpu_seconds(server.pid())?;
    let start = Instant::now();
    let mut agent = spawn(
        Command::new(bin).arg("-f").arg("-C").arg(&agent_conf),
        &work.join("logagent.out"),
    )?;
    let socket = work.join("logagent.sock");
    let complete = loop {
        std::thread::sleep(Duration::from_millis(100));
        if acknowledged(&socket) >= data.bytes {
            break true;
        }
        if start.elapsed() > timeout || !agent.alive() || !server.alive() {
            eprintln!(
                "  stopped waiting: {} of {} bytes acknowledged",
                acknowledged(&socket),
                data.bytes
            );
            break false;
        }
    };
    let seconds = start.elapsed().as_secs_f64();
    let run = Run {
        name: "logagent nginx -> Polaris".into(),
        seconds,
        cpu_s: proc::cpu_seconds(agent.pid())?,
        rss_kb: proc::peak_rss_kb(agent.pid())?,
        complete: complete && stored(&enroller, data.lines),
        server: Some((
            proc::cpu_seconds(server.pid())? - server_cpu_before,
            proc::peak_rss_kb(server.pid())?,
        )),
    };
    Ok(run)
}

/// Whether Polaris holds `want` records of the source (its log-sources view counts them).
fn stored(enroller: &devpki::Enroller, want: u64) -> bool {
    let Ok(client) = enroller.client(None) else {
        return false;
    };
    let answer = client
        .get(format!(
            "{}/api/v1/hosts/logship/log-sources",
            enroller.base
        ))
        .header("Authorization", format!("Bearer {TOKEN}"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
    let records: u64 = answer
        .as_ref()
        .and_then(|a| a.as_array())
        .into_iter()
        .flatten()
        .filter_map(|s| s["records"].as_u64())
        .sum();
    if records != want {
        eprintln!("  Polaris holds {records} records of {want}");
    }
    records == want
}

/// The many-files case, measured.
struct ManyFiles {
    files: usize,
    active: usize,
    cpu_per_s: f64,
    max_fds: usize,
    complete: bool,
}

/// 20,000 one-line files under `work/logs`, 20 of which then grow for 20 s while logagent
/// ships them to a TCP sink: its CPU per second and the most descriptors it held meanwhile.
fn many_files(bin: &Path, work: &Path) -> anyhow::Result<ManyFiles> {
    const FILES: usize = 20_000;
    const ACTIVE: usize = 20;
    const SECONDS: u64 = 20;
    eprintln!("logagent, {FILES} files of which {ACTIVE} grow ...");
    let logs = work.join("logs");
    std::fs::create_dir_all(&logs)?;
    for n in 0..FILES {
        std::fs::write(
            logs.join(format!("f{n:05}.log")),
            format!("file {n} first line\n"),
        )?;
    }
    let sink = Sink::start()?;
    let sources = format!(
        "[[source]]\nname = \"many\"\npath = \"{}/*.log\"\nformat = \"line\"\nfrom_start = true\n",
        logs.display()
    );
    let (start, mut agent) = start_tcp_agent(bin, work, &sink, &sources)?;
    let (_, first) = wait_for_sink(
        &sink,
        FILES as u64,
        start,
        Duration::from_secs(300),
        &mut agent,
    );
    let fds = |pid: u32| std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count());
    let before = proc::cpu_seconds(agent.pid())?;
    let window = Instant::now();
    let mut max_fds = 0;
    let mut appended = 0u64;
    while window.elapsed() < Duration::from_secs(SECONDS) {
        for n in 0..ACTIVE {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(logs.join(format!("f{n:05}.log")))?;
            writeln!(file, "file {n} line {appended}")?;
        }
        appended += 1;
        max_fds = max_fds.max(fds(agent.pid()));
        std::thread::sleep(Duration::from_millis(100));
    }
    let cpu_per_s = (proc::cpu_seconds(agent.pid())? - before) / window.elapsed().as_secs_f64();
    let want = FILES as u64 + appended * ACTIVE as u64;
    let (_, all) = wait_for_sink(&sink, want, start, Duration::from_secs(300), &mut agent);
    Ok(ManyFiles {
        files: FILES,
        active: ACTIVE,
        cpu_per_s,
        max_fds,
        complete: first && all,
    })
}

fn report(data: &Data, runs: &[Run], idle_cpu: Option<f64>, many: Option<&ManyFiles>) {
    let gib = data.bytes as f64 / 1_073_741_824.0;
    println!(
        "\n{} lines, {:.2} GiB in {} files\n",
        data.lines,
        gib,
        data.files.len()
    );
    println!(
        "{:<28} {:>9} {:>9} {:>12} {:>10} {:>9}",
        "shipper", "seconds", "MiB/s", "CPU s/GiB", "peak RSS", "complete"
    );
    for run in runs {
        println!(
            "{:<28} {:>9.2} {:>9.1} {:>12.2} {:>7} kB {:>9}",
            run.name,
            run.seconds,
            run.mib_per_s(data),
            run.cpu_per_gib(data),
            run.rss_kb,
            if run.complete { "yes" } else { "NO" }
        );
        if let Some((cpu, rss)) = run.server {
            println!(
                "{:<28} {:>9} {:>9} {:>12.2} {:>7} kB",
                "  (Polaris, receiving)",
                "",
                "",
                cpu / gib,
                rss
            );
        }
    }
    if let Some(idle_cpu) = idle_cpu {
        println!("\nlogagent idle (all shipped, nothing growing): {idle_cpu:.4} CPU s per s");
    }
    if let Some(many) = many {
        println!(
            "logagent with {} files, {} growing: {:.4} CPU s per s, at most {} descriptors, every line: {}",
            many.files,
            many.active,
            many.cpu_per_s,
            many.max_fds,
            if many.complete { "yes" } else { "NO" }
        );
    }
    println!("\n=== FIGURES logship ===");
    let slug = |name: &str| {
        name.replace(" -> ", "_")
            .replace([' ', '-'], "_")
            .to_lowercase()
    };
    for run in runs {
        let s = slug(&run.name);
        println!("{s}_mib_per_s: {:.1}", run.mib_per_s(data));
        println!("{s}_cpu_s_per_gib: {:.2}", run.cpu_per_gib(data));
        println!("{s}_rss_kb: {}", run.rss_kb);
        println!("{s}_complete: {}", run.complete);
    }
    if let Some(rsyslog) = runs.iter().find(|r| r.name.starts_with("rsyslog")) {
        for run in runs.iter().filter(|r| r.name.starts_with("logagent")) {
            println!(
                "ratio_{}_over_rsyslog: {:.2}",
                slug(&run.name),
                run.mib_per_s(data) / rsyslog.mib_per_s(data)
            );
        }
    }
    if let Some(idle_cpu) = idle_cpu {
        println!("logagent_idle_cpu_s_per_s: {idle_cpu:.4}");
    }
    if let Some(many) = many {
        println!("many_files_cpu_s_per_s: {:.4}", many.cpu_per_s);
        println!("many_files_max_fds: {}", many.max_fds);
        println!("many_files_complete: {}", many.complete);
    }
}
