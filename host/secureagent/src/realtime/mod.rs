//! Real time (daemon mode): the trees named by `realtime` are also watched, by fanotify where
//! the agent may ([`fanotify`]) or inotify ([`inotify`]); events are coalesced for
//! [`WINDOW`], then each touched path (or whole subtree) is compared with the baseline
//! ([`check`]) and what is new goes to the log and to Polaris as a `realtime` report. The
//! baseline is never written here; the scheduled full check stays the backstop for what the
//! watch cannot see (README.md, "Real time").

pub mod check;
pub mod fanotify;
pub mod inotify;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wire::integrity::{IntegrityReport, RunKind};

use crate::config::{Config, RealtimeMode};
use crate::db::{self, DbError, DbPaths};
use crate::polaris;
use crate::report::{self, BaselineInfo};
use crate::rules::{FileKind, Rules};
use crate::walk;

/// How long events are gathered before the paths they touched are compared.
pub const WINDOW: Duration = Duration::from_secs(1);
/// The longest wait for events: how soon a stop is seen.
const TICK: Duration = Duration::from_millis(100);
/// Most real-time reports kept in memory while another run holds the lock.
const MAX_WAITING: usize = 100;

/// What the events of a window touched (real paths).
#[derive(Debug, Default)]
pub struct Batch {
    /// Entries to compare.
    pub touched: BTreeSet<PathBuf>,
    /// Folders to compare whole (created, moved, deleted; every tree after an overflow).
    pub whole: BTreeSet<PathBuf>,
    /// Events were lost.
    pub overflow: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.whole.is_empty()
    }
}

/// A source of events.
pub trait Source {
    /// `inotify` or `fanotify`.
    fn name(&self) -> &'static str;
    /// Trees that fell back to the scheduled check, and why.
    fn fallen(&self) -> Vec<(PathBuf, String)>;
    /// Waits up to `timeout` for events and adds what they touched to `batch`.
    fn wait(&mut self, timeout: Duration, batch: &mut Batch) -> std::io::Result<()>;
}

/// Waits up to `timeout` for `fd` to be readable (the sources' descriptors do not block: what
/// is there is read after). A wait a signal interrupted ended early, not badly.
fn wait_readable(fd: std::os::fd::RawFd, timeout: Duration) -> std::io::Result<()> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
    // SAFETY: one pollfd, for a descriptor the caller holds open.
    if unsafe { libc::poll(&mut pfd, 1, ms) } < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

/// A tree as the config names it, without a trailing `/` (but `/` itself).
fn normal(tree: &str) -> Vec<u8> {
    let trimmed = tree.trim_end_matches('/');
    if trimmed.is_empty() {
        b"/".to_vec()
    } else {
        trimmed.as_bytes().to_vec()
    }
}

/// Whether a walk reaches real-time `tree` and checks something there: every folder above
/// it is entered, and it is selected or entered itself.
pub fn selected_tree(rules: &Rules, tree: &str) -> bool {
    let tree = normal(tree);
    let mut at = 0;
    if !rules.descend(b"/") && tree != b"/" {
        return false;
    }
    while let Some(i) = tree[at + 1..].iter().position(|b| *b == b'/') {
        at += 1 + i;
        if !rules.descend(&tree[..at]) {
            return false;
        }
    }
    rules.descend(&tree) || rules.select(&tree, FileKind::Dir).is_some()
}

/// Picks the source `mode` asks for; `auto` and a refused `fanotify` fall back to inotify.
fn source(config: &Config, trees: &[PathBuf], own: &[PathBuf]) -> Option<Box<dyn Source>> {
    if config.realtime_mode != RealtimeMode::Inotify {
        match fanotify::FanotifyWatch::new(trees) {
            Ok(watch) => return Some(Box::new(watch)),
            Err(e) if config.realtime_mode == RealtimeMode::Fanotify => tracing::error!(
                "Real time: realtime_mode = \"fanotify\" but fanotify cannot be used: {e}; inotify instead."
            ),
            Err(e) => tracing::info!("Real time: fanotify not available ({e}): inotify."),
        }
    }
    match inotify::InotifyWatch::new(trees, config.realtime_max_watches, own) {
        Ok(watch) => Some(Box::new(watch)),
        Err(e) => {
            tracing::error!(
                "Real time: inotify cannot start: {e}; the trees are checked by the scheduled check only."
            );
            None
        }
    }
}

/// Counts of the real-time watch, logged when it ends.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Windows compared.
    pub batches: u64,
    /// Reports with findings.
    pub reports: u64,
    /// Queue overflows.
    pub overflows: u64,
}

/// Watches the real-time trees until the daemon stops; `also_own` are the agent's log and
/// PID file. Never writes the baseline.
pub fn watch(config: &Config, rules: &Rules, also_own: &[PathBuf]) -> Totals {
    let mut totals = Totals::default();
    let Ok(root) = config.root_prefix.canonicalize() else {
        tracing::error!(
            "Real time: root_prefix {} cannot be resolved; no real-time watch.",
            config.root_prefix.display()
        );
        return totals;
    };
    let paths = DbPaths::new(&config.database);
    let own = crate::run::own_files(&paths, also_own);
    let mut rels: Vec<Vec<u8>> = config.realtime.iter().map(|t| normal(t)).collect();
    rels.sort();
    rels.dedup();
    // A tree inside another is watched with it.
    let rels: Vec<Vec<u8>> = rels
        .iter()
        .filter(|t| !rels.iter().any(|o| o != *t && check::under(t, o)))
        .cloned()
        .collect();
    let ctx = check::Context {
        rules,
        root: root.clone(),
        trees: rels.clone(),
        own: own.clone(),
        cap: (config.max_read_mib_s > 0)
            .then(|| crate::gentle::ReadCap::new(config.max_read_mib_s.saturating_mul(1 << 20))),
    };
    let mut reals = Vec::new();
    for rel in &rels {
        let real = root.join(std::ffi::OsStr::new(
            std::str::from_utf8(rel)
                .unwrap_or("/")
                .trim_start_matches('/'),
        ));
        match real.canonicalize() {
            Ok(c) if c == real => reals.push(real),
            Ok(c) => tracing::error!(
                "Real time: {} is a symlink (to {}): not watched; the scheduled check covers it.",
                real.display(),
                c.display()
            ),
            Err(e) => tracing::error!(
                "Real time: {}: {e}: not watched; the scheduled check covers it.",
                real.display()
            ),
        }
    }
    let Some(mut source) = source(config, &reals, &own) else {
        return totals;
    };
    tracing::info!(
        "Real time: watching {} by {}.",
        config.realtime.join(", "),
        source.name()
    );
    let mut baseline: Option<check::Baseline> = None;
    let mut reported: HashMap<Vec<u8>, String> = HashMap::new();
    let mut waiting: Vec<IntegrityReport> = Vec::new();
    let mut batch = Batch::default();
    let mut first: Option<Instant> = None;
    while !walk::stop_requested() {
        if let Err(e) = source.wait(TICK, &mut batch) {
            tracing::error!(
                "Real time: reading {} events failed: {e}; real-time watching stops, the scheduled check goes on.",
                source.name()
            );
            break;
        }
        if !waiting.is_empty() {
            send(config, &paths, &mut waiting);
        }
        if batch.is_empty() {
            continue;
        }
        let since = *first.get_or_insert_with(Instant::now);
        if since.elapsed() < WINDOW && !walk::stop_requested() {
            continue;
        }
        first = None;
        let done = std::mem::take(&mut batch);
        totals.batches += 1;
        totals.overflows += u64::from(done.overflow);
        if baseline.as_ref().is_none_or(|b| b.stale(&paths)) {
            baseline = match check::Baseline::read(&paths, &rels) {
                Ok(b) => {
                    tracing::info!(entries = b.len(), "Real time: baseline {} read.", b.digest);
                    reported.clear();
                    Some(b)
                }
                Err(e) => {
                    tracing::warn!(
                        "Real time: no baseline to compare with ({e}); run --init. Events dropped."
                    );
                    None
                }
            };
        }
        let Some(base) = &baseline else { continue };
        if let Some(report) = compare(&ctx, base, &done, &mut reported, &root) {
            totals.reports += 1;
            waiting.push(report);
            if waiting.len() > MAX_WAITING {
                waiting.remove(0);
                tracing::warn!(
                    "Real time: over {MAX_WAITING} reports wait for the lock: the oldest is dropped."
                );
            }
            send(config, &paths, &mut waiting);
        }
    }
    for (tree, why) in source.fallen() {
        tracing::error!("Real time: {} was not watched ({why}).", tree.display());
    }
    tracing::info!(
        batches = totals.batches,
        reports = totals.reports,
        overflows = totals.overflows,
        "Real time: stopped."
    );
    totals
}

/// Compares one window's paths; the report to send when something new was found (logged).
fn compare(
    ctx: &check::Context<'_>,
    baseline: &check::Baseline,
    done: &Batch,
    reported: &mut HashMap<Vec<u8>, String>,
    root: &Path,
) -> Option<IntegrityReport> {
    let started = Instant::now();
    let started_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let start = chrono::Utc::now()
        .format("%Y-%m-%d %H:%M:%S +0000")
        .to_string();
    let touched: BTreeSet<Vec<u8>> = done.touched.iter().filter_map(|p| ctx.rel(p)).collect();
    let whole: BTreeSet<Vec<u8>> = done.whole.iter().filter_map(|p| ctx.rel(p)).collect();
    if touched.is_empty() && whole.is_empty() {
        return None;
    }
    let findings = check::compare(ctx, baseline, &touched, &whole, reported);
    if findings.is_clean() {
        tracing::debug!(
            paths = touched.len(),
            subtrees = whole.len(),
            "Real time: nothing new."
        );
        return None;
    }
    let info = BaselineInfo {
        path: String::new(),
        digest: baseline.digest.clone(),
        stored_digest: baseline.stored_digest.clone(),
    };
    let report = report::build(
        &findings,
        start,
        root.display().to_string(),
        info,
        started.elapsed().as_secs_f64(),
    );
    tracing::warn!(
        "Real-time check: changes found ({} path(s), {} whole folder(s) compared).\n{}",
        touched.len(),
        whole.len(),
        report::text(&report, env!("CARGO_PKG_VERSION"))
    );
    let mut sent = polaris::check_report(&report, started_unix, None);
    sent.kind = RunKind::Realtime;
    Some(sent)
}

/// Sends the waiting reports when no other run holds the lock (a scheduled check sends its
/// own report meanwhile; these wait for it).
fn send(config: &Config, paths: &DbPaths, waiting: &mut Vec<IntegrityReport>) {
    let _lock = match db::lock(paths) {
        Ok(lock) => lock,
        Err(DbError::Locked { .. }) => return,
        Err(e) => {
            tracing::warn!("Real time: cannot take the lock to send reports: {e}.");
            return;
        }
    };
    let dir = paths
        .db
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    for report in waiting.drain(..) {
        let delivery = polaris::deliver(config, &dir, &report);
        if !matches!(delivery, polaris::Delivery::Off) {
            tracing::info!("Real time: {}", delivery.line());
        }
    }
}
