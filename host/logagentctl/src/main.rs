//! `logagentctl`: prints what a running logagent reads, from its control socket (one JSON
//! snapshot per connection): `logagentctl [sources]` and `logagentctl files`, `--json` for
//! the raw answer.
//!
//! Exit codes: 0 done, 1 the agent refused this user (it answers only root, its own user and
//! its `socket_group`) or answered nonsense, 3 no agent listening on the socket.

use std::io::Read as _;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use logagentctl::cli::{Cli, Command};
use serde_json::Value;
use wire::logs::SourceStatus;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stream = match UnixStream::connect(&cli.socket) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("logagentctl: no logagent on {}: {e}", cli.socket.display());
            return ExitCode::from(3);
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut text = String::new();
    if let Err(e) = stream.take(64 * 1024 * 1024).read_to_string(&mut text) {
        eprintln!("logagentctl: reading the answer: {e}");
        return ExitCode::FAILURE;
    }
    let answer: Value = match serde_json::from_str(&text) {
        Ok(answer) => answer,
        Err(e) => {
            eprintln!("logagentctl: the agent's answer is not JSON: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(error) = answer.get("error").and_then(Value::as_str) {
        eprintln!("logagentctl: {error}");
        return ExitCode::FAILURE;
    }
    if cli.json {
        println!("{answer:#}");
        return ExitCode::SUCCESS;
    }
    match cli.command.unwrap_or(Command::Sources) {
        Command::Sources => print_sources(&answer),
        Command::Files => print_files(&answer),
    }
    ExitCode::SUCCESS
}

fn print_sources(answer: &Value) {
    let sources: Vec<SourceStatus> =
        serde_json::from_value(answer["sources"].clone()).unwrap_or_default();
    println!(
        "{:<20} {:>7} {:>5} {:>14} {:>14} {:>12} {:<8} {:>10} {:>5} {:>7} {:>5} {:>6}",
        "SOURCE",
        "FILES",
        "OPEN",
        "OFFSET",
        "SIZE",
        "LAG",
        "STATE",
        "LOST",
        "TRUNC",
        "PARSE",
        "CUT",
        "REJECT"
    );
    for s in &sources {
        println!(
            "{:<20} {:>7} {:>5} {:>14} {:>14} {:>12} {:<8} {:>10} {:>5} {:>7} {:>5} {:>6}",
            s.name,
            s.files,
            s.open_files,
            s.offset,
            s.size,
            s.lag,
            s.state,
            s.lost_bytes,
            s.truncations,
            s.parse_errors,
            s.truncated_records,
            s.rejected_records
        );
        if let Some(error) = &s.last_error {
            println!("  last error: {error}");
        }
    }
    if let Some(error) = answer["sink_error"].as_str() {
        println!("Not acknowledged: {error}");
    }
}

fn print_files(answer: &Value) {
    println!(
        "{:<20} {:<16} {:>14} {:>14} {:>14} {:>12} {:<4} {:<4} PATH",
        "SOURCE", "FILE", "OFFSET", "READ", "SIZE", "LAG", "OPEN", "GONE"
    );
    let empty = Vec::new();
    let files = answer["files"].as_array().unwrap_or(&empty);
    for f in files {
        let n = |key: &str| f[key].as_u64().unwrap_or(0);
        let yes = |key: &str| if f[key] == true { "yes" } else { "no" };
        println!(
            "{:<20} {:<16} {:>14} {:>14} {:>14} {:>12} {:<4} {:<4} {}",
            f["source"].as_str().unwrap_or(""),
            f["file"].as_str().unwrap_or(""),
            n("offset"),
            n("read"),
            n("size"),
            n("size").saturating_sub(n("offset")),
            yes("open"),
            yes("gone"),
            f["path"].as_str().unwrap_or("")
        );
    }
}
