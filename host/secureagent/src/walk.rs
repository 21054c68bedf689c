//! The parallel walk: N workers share one queue of jobs (list a directory, hash a file).
//! A worker lists a directory as a stream (`readdir`, one entry at a time), stats each entry
//! without following symlinks, asks the rules what to check, queues subdirectories, and
//! queues files to hash while the queue is short (hashing them itself when it is long, so
//! memory stays flat however many entries one directory holds). Pseudo file systems (`/proc`,
//! `/sys`...) are entered only when a rule names a path in them; the agent's own files are
//! never entries. A file or directory that cannot be read is kept, marked `unreadable`.
//! Reads go through the run's [`ReadCap`] when `max_read_bytes_s` is set; [`request_stop`]
//! (the daemon's SIGTERM) makes every worker stop within a read or a listed entry.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use crate::db::OldSize;
use crate::entry::Entry;
use crate::gentle::{Capped, ReadCap};
use crate::hash;
use crate::rules::{Attr, FileKind, Rules};

/// What to walk.
#[derive(Debug, Clone)]
pub struct WalkOptions {
    /// The real directory that is `/` for the rules (AIDE's `root_prefix`).
    pub root: PathBuf,
    /// Worker threads.
    pub workers: usize,
    /// Real paths that are never entries (the agent's database, lock, log, PID file).
    pub own_files: Vec<PathBuf>,
    /// Bytes read per second by the whole run, over all workers (0: no cap).
    pub max_read_bytes_s: u64,
}

/// Set (from a signal handler too) to stop every walk of the process; never cleared.
static STOP: AtomicBool = AtomicBool::new(false);

/// Stops the walks of this process: workers end after their current read or entry, and the
/// walk returns what it has (the caller must not use it, see [`stop_requested`]).
/// Async-signal-safe.
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// True once [`request_stop`] was called: a walk that ran then is incomplete.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

enum Job {
    /// List a directory; `entry` is the directory's own entry, kept once it is listed.
    Dir {
        real: PathBuf,
        rel: Vec<u8>,
        dev: u64,
        entry: Option<Entry>,
    },
    /// Hash a regular file.
    File { real: PathBuf, entry: Entry },
}

struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

struct QueueState {
    jobs: VecDeque<Job>,
    /// Workers running a job (they may queue more).
    busy: usize,
}

/// Queued file jobs beyond this many per worker are hashed by the worker that found them.
const FILE_JOBS_PER_WORKER: usize = 8;

impl Queue {
    fn push(&self, job: Job) {
        if let Ok(mut state) = self.state.lock() {
            state.jobs.push_back(job);
            self.ready.notify_one();
        }
    }

    fn len(&self) -> usize {
        self.state.lock().map(|s| s.jobs.len()).unwrap_or(0)
    }

    /// The next job, or `None` when the queue is empty and no worker can add to it, or the
    /// walk was stopped.
    fn next(&self) -> Option<Job> {
        let mut state = self.state.lock().ok()?;
        loop {
            if stop_requested() {
                state.jobs.clear();
                self.ready.notify_all();
                return None;
            }
            if let Some(job) = state.jobs.pop_front() {
                state.busy += 1;
                return Some(job);
            }
            if state.busy == 0 {
                self.ready.notify_all();
                return None;
            }
            // A bounded wait, so that a stop is seen even if no one notifies.
            state = self
                .ready
                .wait_timeout(state, Duration::from_millis(100))
                .ok()?
                .0;
        }
    }

    fn done(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.busy -= 1;
            if state.busy == 0 && state.jobs.is_empty() {
                self.ready.notify_all();
            }
        }
    }
}

/// Pseudo file systems, entered only when a rule names a path in them.
const PSEUDO_FS: &[i64] = &[
    0x9fa0,      // proc
    0x6265_6572, // sysfs
    0x1cd1,      // devpts
    0x0027_e0eb, // cgroup
    0x6367_7270, // cgroup2
    0x6462_6720, // debugfs
    0x7472_6163, // tracefs
    0x7363_6673, // securityfs
    0x6165_676c, // pstore
    0xcafe_4a11, // bpf
    0x6265_6570, // configfs
    0x6573_5543, // fusectl
    0xf97c_ff8c, // selinuxfs
    0x4249_4e4d, // binfmt_misc
    0x1980_0202, // mqueue
    0x6e73_6673, // nsfs
    0xde5e_81e4, // efivarfs
];

fn is_pseudo_fs(path: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs fills the zeroed struct; the path is a valid C string.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut buf) };
    rc == 0 && PSEUDO_FS.contains(&(buf.f_type as i64))
}

/// Opens a file for reading without following a symlink and, where allowed, without
/// touching its access time.
fn open_no_follow(path: &Path) -> std::io::Result<File> {
    let open = |flags| {
        OpenOptions::new()
            .read(true)
            .custom_flags(flags | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    };
    match open(libc::O_NOATIME) {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(0),
        other => other,
    }
}

struct Worker<'a> {
    rules: &'a Rules,
    options: &'a WalkOptions,
    queue: &'a Queue,
    /// During a check, the baseline's growing files and their old sizes (sorted by path).
    old: Option<&'a [OldSize]>,
    cap: Option<&'a ReadCap>,
    buf: Vec<u8>,
    out: Vec<Entry>,
}

impl Worker<'_> {
    fn run(mut self) -> Vec<Entry> {
        while let Some(job) = self.queue.next() {
            match job {
                Job::Dir {
                    real,
                    rel,
                    dev,
                    entry,
                } => self.list(&real, &rel, dev, entry),
                Job::File { real, entry } => {
                    let entry = self.hash(&real, entry);
                    self.out.push(entry);
                }
            }
            self.queue.done();
        }
        self.out
    }

    fn hash(&mut self, real: &Path, mut entry: Entry) -> Entry {
        let prefix = if entry.attrs.has(Attr::Growing) {
            self.old
                .and_then(|old| {
                    old.binary_search_by(|(path, _)| path[..].cmp(&entry.path[..]))
                        .ok()
                        .map(|i| old[i].1)
                })
                .filter(|size| *size < entry.size)
        } else {
            None
        };
        let result = open_no_follow(real).and_then(|f| {
            let mut reader = Capped {
                inner: f,
                cap: self.cap,
                stop: &stop_requested,
            };
            hash::hash_reader(&mut reader, entry.attrs, prefix, &mut self.buf)
        });
        match result {
            Ok((hashes, prefix)) => {
                entry.hashes = hashes;
                entry.prefix = prefix.map(Box::new);
            }
            Err(e) => entry.unreadable = Some(e.to_string()),
        }
        entry
    }

    fn is_own(&self, real: &Path) -> bool {
        self.options.own_files.iter().any(|p| p == real)
    }

    fn list(&mut self, real: &Path, rel: &[u8], dev: u64, mut dir_entry: Option<Entry>) {
        let reader = match std::fs::read_dir(real) {
            Ok(reader) => reader,
            Err(e) => {
                if let Some(mut entry) = dir_entry.take() {
                    entry.unreadable = Some(format!("cannot list: {e}"));
                    self.out.push(entry);
                } else {
                    tracing::warn!("Cannot list {}: {e}.", real.display());
                }
                return;
            }
        };
        for item in reader {
            if stop_requested() {
                break;
            }
            let item = match item {
                Ok(item) => item,
                Err(e) => {
                    if let Some(entry) = &mut dir_entry {
                        entry.unreadable = Some(format!("cannot list: {e}"));
                    }
                    break;
                }
            };
            let child_real = real.join(item.file_name());
            if self.is_own(&child_real) {
                continue;
            }
            let mut child_rel = Vec::with_capacity(rel.len() + 1 + item.file_name().len());
            child_rel.extend_from_slice(rel);
            if !rel.ends_with(b"/") {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(item.file_name().as_bytes());
            self.visit(child_real, child_rel, Some(dev));
        }
        if let Some(entry) = dir_entry {
            self.out.push(entry);
        }
    }

    /// One entry found: stat it, select it, queue what it needs.
    fn visit(&mut self, real: PathBuf, rel: Vec<u8>, parent_dev: Option<u64>) {
        let meta = match std::fs::symlink_metadata(&real) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!("Cannot stat {}: {e}.", real.display());
                return;
            }
        };
        let kind = FileKind::from_mode(meta.mode());
        let attrs = self.rules.select(&rel, kind);
        let entry = attrs.map(|a| Entry::from_metadata(rel.clone().into(), a, &real, &meta));
        if kind == FileKind::Dir {
            let crossed = parent_dev.is_some_and(|d| d != meta.dev());
            let enter = self.rules.descend(&rel)
                && !(crossed && is_pseudo_fs(&real) && !self.rules.names(&rel));
            if enter {
                self.queue.push(Job::Dir {
                    real,
                    rel,
                    dev: meta.dev(),
                    entry,
                });
            } else if let Some(entry) = entry {
                self.out.push(entry);
            }
            return;
        }
        let Some(entry) = entry else { return };
        if kind == FileKind::File && entry.attrs.any_hash() && entry.unreadable.is_none() {
            if self.queue.len() < FILE_JOBS_PER_WORKER * self.options.workers {
                self.queue.push(Job::File { real, entry });
            } else {
                let entry = self.hash(&real, entry);
                self.out.push(entry);
            }
        } else {
            self.out.push(entry);
        }
    }
}

/// Walks the tree under `options.root` with the rules and returns its entries sorted by path.
/// During a check, `old` holds the baseline's growing files with their old sizes (sorted by
/// path; see [`crate::db::growing_sizes`]).
pub fn walk(rules: &Rules, options: &WalkOptions, old: Option<&[OldSize]>) -> Vec<Entry> {
    let queue = Queue {
        state: Mutex::new(QueueState {
            jobs: VecDeque::new(),
            busy: 0,
        }),
        ready: Condvar::new(),
    };
    let workers = options.workers.max(1);
    let cap = (options.max_read_bytes_s > 0).then(|| ReadCap::new(options.max_read_bytes_s));
    let cap = cap.as_ref();
    let mut first = Worker {
        rules,
        options,
        queue: &queue,
        old,
        cap,
        buf: vec![0; hash::BUFFER],
        out: Vec::new(),
    };
    // The root itself is `/` for the rules.
    first.visit(options.root.clone(), b"/".to_vec(), None);
    let mut outs = Vec::with_capacity(workers + 1);
    outs.push(first.out);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                let worker = Worker {
                    rules,
                    options,
                    queue: &queue,
                    old,
                    cap,
                    buf: vec![0; hash::BUFFER],
                    out: Vec::new(),
                };
                scope.spawn(move || worker.run())
            })
            .collect();
        for handle in handles {
            // A worker that panicked would leave entries out, and they would read as removed.
            match handle.join() {
                Ok(out) => outs.push(out),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    // The others appended to the largest, grown once to the final size (a large block grows
    // in place or is remapped, not copied: the entries are not held twice at the end).
    outs.sort_unstable_by_key(Vec::len);
    let mut entries = outs.pop().unwrap_or_default();
    entries.reserve_exact(outs.iter().map(Vec::len).sum());
    for mut out in outs {
        entries.append(&mut out);
    }
    entries.sort_unstable_by(|a, b| a.path.cmp(&b.path));
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_file_systems_are_not_entered_unless_a_rule_names_them() {
        assert!(is_pseudo_fs(Path::new("/proc")));
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_pseudo_fs(dir.path()));
        // Only `/` and the top-level names starting with "pro" (/proc) are selected.
        let (rules, _) = crate::rules::parse("!/[^p]\n!/p[^r]\n!/pr[^o]\n/ p\n").unwrap();
        let options = WalkOptions {
            root: "/".into(),
            workers: 2,
            own_files: Vec::new(),
            max_read_bytes_s: 0,
        };
        let entries = walk(&rules, &options, None);
        let paths: Vec<&[u8]> = entries.iter().map(|e| &e.path[..]).collect();
        assert!(paths.contains(&&b"/proc"[..]), "{:?}", paths.len());
        assert!(
            !paths.iter().any(|p| p.starts_with(b"/proc/")),
            "/proc was entered"
        );
        // A rule that names a path in /proc lets the walk in.
        let (rules, _) = crate::rules::parse("!/[^p]\n!/p[^r]\n!/pr[^o]\n=/proc/ p\n").unwrap();
        let entries = walk(&rules, &options, None);
        assert!(
            entries.iter().any(|e| &e.path[..] == b"/proc/self"),
            "{}",
            entries.len()
        );
    }

    #[test]
    fn symlinks_are_never_followed_and_big_folders_are_walked_whole() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), b"s").unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        std::fs::create_dir(dir.path().join("big")).unwrap();
        for i in 0..3000 {
            std::fs::write(dir.path().join(format!("big/f{i}")), i.to_string()).unwrap();
        }
        let (rules, _) = crate::rules::parse("/ p+l+sha256\n").unwrap();
        let options = WalkOptions {
            root: dir.path().into(),
            workers: 3,
            own_files: Vec::new(),
            max_read_bytes_s: 0,
        };
        let entries = walk(&rules, &options, None);
        assert_eq!(
            entries.len(),
            1 + 1 + 1 + 3000,
            "root, link, big, its files"
        );
        let link = entries.iter().find(|e| &e.path[..] == b"/link").unwrap();
        assert_eq!(link.kind, FileKind::Symlink);
        assert_eq!(
            link.extra().linkname.as_deref(),
            Some(outside.path().as_os_str().as_bytes())
        );
        assert!(
            entries
                .iter()
                .all(|e| e.kind != FileKind::File || e.hashes.sha256.is_some())
        );
        assert!(entries.windows(2).all(|w| w[0].path < w[1].path), "sorted");
    }

    #[test]
    fn the_read_cap_holds_the_whole_run_over_all_workers() {
        let dir = tempfile::tempdir().unwrap();
        // 6 MiB in 12 files, hashed by 3 workers, at 2 MiB/s for the run.
        for i in 0..12 {
            std::fs::write(dir.path().join(format!("f{i}")), vec![i as u8; 512 << 10]).unwrap();
        }
        let (rules, _) = crate::rules::parse("/ p+sha256\n").unwrap();
        let mut options = WalkOptions {
            root: dir.path().into(),
            workers: 3,
            own_files: Vec::new(),
            max_read_bytes_s: 2 << 20,
        };
        let started = std::time::Instant::now();
        let entries = walk(&rules, &options, None);
        let took = started.elapsed().as_secs_f64();
        assert!(entries.iter().all(|e| e.unreadable.is_none()));
        assert_eq!(
            entries.iter().filter(|e| e.hashes.sha256.is_some()).count(),
            12
        );
        // 6 MiB / 2 MiB/s = 3 s; the bucket starts empty: the lower bound, less a margin.
        assert!(took >= 2.8, "6 MiB at a 2 MiB/s cap took {took:.2} s");
        // The same files with no cap hash the same.
        options.max_read_bytes_s = 0;
        let uncapped = walk(&rules, &options, None);
        assert_eq!(
            uncapped.iter().map(|e| e.hashes.sha256).collect::<Vec<_>>(),
            entries.iter().map(|e| e.hashes.sha256).collect::<Vec<_>>()
        );
    }
}
