//! Benchmark of the plugin foundation (`cargo bench -p e2e --bench plugin_load`):
//! - the time to load one plugin (ELF check + dlopen + abi_stable version and layout checks +
//!   describe), on fresh copies so every load is a real first `dlopen`;
//! - the whole-process time of `gearctl -c getinfo.kernel`, next to `/bin/true` as the floor of
//!   starting any process on this machine.
//!
//! Targets: load <= 1 ms, gearctl <= 5 ms.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOADS: usize = 200;
const RUNS: usize = 200;

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e3;
    format!(
        "median {:.3} ms  p90 {:.3} ms  min {:.3} ms",
        pick(0.5),
        pick(0.9),
        pick(0.0)
    )
}

fn time_process(program: &Path, args: &[&str]) -> Vec<Duration> {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let status = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .status()
                .expect("run the benchmarked program");
            let elapsed = start.elapsed();
            assert!(status.success(), "{} failed", program.display());
            elapsed
        })
        .collect()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let plugins = e2e::plugin_dir();
    let kernel = plugins.join("libplugin_kernel.so");
    let copies = tempfile::tempdir().expect("temp dir");
    let paths: Vec<_> = (0..LOADS)
        .map(|i| {
            let path = copies.path().join(format!("kernel-{i}.so"));
            std::fs::copy(&kernel, &path).expect("copy plugin");
            path
        })
        .collect();
    let loads: Vec<Duration> = paths
        .iter()
        .map(|path| {
            let start = Instant::now();
            let plugins = plugin_host::load(path).expect("load plugin");
            let elapsed = start.elapsed();
            assert_eq!(plugins[0].name(), "kernel");
            elapsed
        })
        .collect();

    let gearctl = e2e::bin("gearctl");
    let dir = plugins.to_string_lossy().into_owned();
    let runs = time_process(&gearctl, &["-d", &dir, "-c", "getinfo.kernel"]);
    let floor = time_process(Path::new("/bin/true"), &[]);

    println!(
        "plugin foundation benchmark ({} build)",
        if plugins.ends_with("release") {
            "release"
        } else {
            "debug"
        }
    );
    println!(
        "  load one plugin (ELF check + dlopen + ABI checks), {LOADS} fresh files: {}",
        summary(loads)
    );
    println!(
        "  gearctl -c getinfo.kernel, whole process, {RUNS} runs:         {}",
        summary(runs)
    );
    println!(
        "  /bin/true, whole process, {RUNS} runs (floor):                 {}",
        summary(floor)
    );
}
