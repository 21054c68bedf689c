//! `--init`, `--check` and `--update` put together: the lock, the walk, the baseline read or
//! written, the comparison, the report, and the report sent to Polaris (or kept until it can
//! be). Returns AIDE's exit code.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::compare;
use crate::config::Config;
use crate::db::{self, DbError, DbPaths};
use crate::polaris;
use crate::report::{self, BaselineInfo, EntryReport};
use crate::rules::Rules;
use crate::walk::{self, WalkOptions};

/// AIDE's exit code for an error writing (the baseline).
pub const EXIT_WRITE_ERROR: u8 = 14;
/// AIDE's exit code for a configuration error.
pub const EXIT_CONFIG_ERROR: u8 = 17;
/// AIDE's exit code for an I/O error (the baseline cannot be read).
pub const EXIT_IO_ERROR: u8 = 18;
/// Another run holds the lock (secureagent's own; AIDE has no lock).
pub const EXIT_LOCKED: u8 = 20;

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Init,
    Check,
    Update,
}

/// A run that failed, with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunError {
    pub code: u8,
    pub error: DbError,
}

fn failed(code: u8) -> impl FnOnce(DbError) -> RunError {
    move |error| {
        let code = if matches!(error, DbError::Locked { .. }) {
            EXIT_LOCKED
        } else {
            code
        };
        RunError { code, error }
    }
}

/// A walk that was stopped (SIGTERM to the daemon) is incomplete: nothing is compared,
/// written or reported from it.
fn stopped() -> Result<(), RunError> {
    if walk::stop_requested() {
        return Err(RunError {
            code: EXIT_IO_ERROR,
            error: DbError::Io {
                path: "<walk>".into(),
                source: std::io::Error::new(std::io::ErrorKind::Interrupted, "the run was stopped"),
            },
        });
    }
    Ok(())
}

/// The agent's own files, never entries: the baseline's files and the database's folder (the
/// agent's own, made 0700 by `db`: never walked, so that writing the baseline, a rename in it,
/// is no finding either), with `also_own` (the log, the PID file), each by its real path.
pub(crate) fn own_files(paths: &DbPaths, also_own: &[PathBuf]) -> Vec<PathBuf> {
    let mut own: Vec<PathBuf> = paths.all().iter().map(|p| resolved(p)).collect();
    if let Some(dir) = paths.db.parent().and_then(|d| d.canonicalize().ok()) {
        own.push(dir);
    }
    own.extend(also_own.iter().map(|p| resolved(p)));
    own
}

/// The real path of a file that may not exist yet (its folder resolved).
fn resolved(path: &Path) -> PathBuf {
    match (
        path.parent().and_then(|p| p.canonicalize().ok()),
        path.file_name(),
    ) {
        (Some(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// The report of `--init`.
#[derive(Debug, Serialize)]
pub struct InitReport {
    pub start: String,
    pub root_prefix: String,
    pub database: String,
    pub digest: String,
    pub entries: usize,
    pub unreadable: Vec<EntryReport>,
    pub duration_s: f64,
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S +0000")
        .to_string()
}

/// Runs `verb`; `also_own` are further files of the agent (its log, its PID file) that are
/// never findings. Writes the report to `out`; returns the exit code.
pub fn run(
    config: &Config,
    rules: &Rules,
    verb: Verb,
    json: bool,
    also_own: &[PathBuf],
    out: &mut dyn Write,
) -> Result<u8, RunError> {
    let started = Instant::now();
    let start = now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let paths = DbPaths::new(&config.database);
    let _lock = db::lock(&paths).map_err(failed(EXIT_IO_ERROR))?;
    let root = config.root_prefix.canonicalize().map_err(|e| RunError {
        code: EXIT_CONFIG_ERROR,
        error: DbError::Io {
            path: config.root_prefix.clone(),
            source: e,
        },
    })?;
    let own_files = own_files(&paths, also_own);
    let options = WalkOptions {
        root: root.clone(),
        workers: config.worker_count(),
        own_files,
        max_read_bytes_s: config.max_read_mib_s.saturating_mul(1 << 20),
    };
    let root_prefix = root.display().to_string();
    let version = env!("CARGO_PKG_VERSION");
    let write_err = |e: std::io::Error| RunError {
        code: EXIT_WRITE_ERROR,
        error: DbError::Io {
            path: "<stdout>".into(),
            source: e,
        },
    };

    if verb == Verb::Init {
        let entries = walk::walk(rules, &options, None);
        stopped()?;
        let digest = db::write(&paths, &entries).map_err(failed(EXIT_WRITE_ERROR))?;
        let unreadable: Vec<EntryReport> = compare::unreadable(&entries)
            .iter()
            .map(|e| EntryReport {
                path: e.path_str(),
                kind: e.kind.letter(),
                summary: String::new(),
                attributes: Vec::new(),
                error: e.unreadable.clone(),
            })
            .collect();
        let report = InitReport {
            start,
            root_prefix,
            database: paths.db.display().to_string(),
            digest,
            entries: entries.len(),
            unreadable,
            duration_s: started.elapsed().as_secs_f64(),
        };
        if json {
            let text = serde_json::to_string_pretty(&report).unwrap_or_default();
            writeln!(out, "{text}").map_err(write_err)?;
        } else {
            let mut text = format!(
                "Start timestamp: {} (secureagent {version})\nsecureagent successfully initialized database.\nNew database written to {}\nRoot prefix: {}\n\nNumber of entries:\t{}\n",
                report.start, report.database, report.root_prefix, report.entries
            );
            for e in &report.unreadable {
                text.push_str(&format!(
                    "unreadable: {}: {}\n",
                    e.path,
                    e.error.as_deref().unwrap_or("")
                ));
            }
            text.push_str(&format!(
                "\n---------------------------------------------------\nThe baseline:\n---------------------------------------------------\n{}\n SHA256    : {}\n\nRun time: {:.2} s\n",
                report.database, report.digest, report.duration_s
            ));
            out.write_all(text.as_bytes()).map_err(write_err)?;
        }
        let sent = polaris::init_report(
            &report.digest,
            started_unix,
            report.duration_s,
            report.entries,
            report.unreadable.len(),
        );
        tell(config, &paths, &sent, json, out).map_err(write_err)?;
        return Ok(0);
    }

    // The baseline is read twice and never held whole: first for the old sizes of its growing
    // files (the walk hashes their old-size prefix), then merged with the walk, entry by
    // entry. Both reads must see the same file.
    let (growing, first_digest) = db::growing_sizes(&paths).map_err(failed(EXIT_IO_ERROR))?;
    let entries = walk::walk(rules, &options, Some(&growing));
    drop(growing);
    stopped()?;
    let mut reader = db::Reader::open(&paths).map_err(failed(EXIT_IO_ERROR))?;
    let findings = compare::compare_stream(
        std::iter::from_fn(|| reader.next_entry().transpose()),
        &entries,
    )
    .map_err(failed(EXIT_IO_ERROR))?;
    let digest = reader.finish().map_err(failed(EXIT_IO_ERROR))?;
    if digest != first_digest {
        return Err(RunError {
            code: EXIT_IO_ERROR,
            error: DbError::Io {
                path: paths.db.clone(),
                source: std::io::Error::other("the baseline changed during the check"),
            },
        });
    }
    let info = BaselineInfo {
        path: paths.db.display().to_string(),
        digest,
        stored_digest: db::stored_digest(&paths).map_err(failed(EXIT_IO_ERROR))?,
    };
    let mut report = report::build(
        &findings,
        start,
        root_prefix,
        info,
        started.elapsed().as_secs_f64(),
    );
    // --update: the new baseline is written before the report is printed, so that the report
    // carries its digest; a failed write still prints the check's report, then fails.
    let written = if verb == Verb::Update {
        let written = db::write(&paths, &entries);
        report.new_baseline_digest = written.as_ref().ok().cloned();
        Some(written)
    } else {
        None
    };
    if json {
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        writeln!(out, "{text}").map_err(write_err)?;
    } else {
        out.write_all(report::text(&report, version).as_bytes())
            .map_err(write_err)?;
    }
    let sent = polaris::check_report(&report, started_unix, report.new_baseline_digest.as_deref());
    tell(config, &paths, &sent, json, out).map_err(write_err)?;
    if let Some(written) = written {
        written.map_err(failed(EXIT_WRITE_ERROR))?;
    }
    Ok(findings.exit_code())
}

/// Sends the run's report to Polaris (or keeps it; see [`polaris::deliver`]) and says which:
/// after the text report, or on stderr beside the JSON one.
fn tell(
    config: &Config,
    paths: &DbPaths,
    report: &wire::integrity::IntegrityReport,
    json: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let dir = paths
        .db
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let delivery = polaris::deliver(config, &dir, report);
    if json {
        if !matches!(delivery, polaris::Delivery::Off) {
            eprintln!("secureagent: {}", delivery.line());
        }
        Ok(())
    } else {
        writeln!(out, "\n{}", delivery.line())
    }
}
