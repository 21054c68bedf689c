//! The inotify source: one watch per directory of each real-time tree (inotify is not
//! recursive), new directories watched as they appear. A tree whose directories would pass
//! `realtime_max_watches` or the kernel's `fs.inotify.max_user_watches` loses all its watches
//! and falls back to the scheduled check only (logged as an error with the figure); a lost
//! event queue (`IN_Q_OVERFLOW`) makes every tree checked whole.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd as _, AsRawFd as _};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};

use super::{Batch, Source};

/// One tree and what became of it.
struct Tree {
    root: PathBuf,
    /// Why it fell back to the scheduled check, once it did.
    fallen: Option<String>,
}

/// inotify over the real-time trees.
pub struct InotifyWatch {
    fd: Inotify,
    dirs: HashMap<WatchDescriptor, (PathBuf, usize)>,
    trees: Vec<Tree>,
    max: usize,
    own: Vec<PathBuf>,
}

fn mask() -> AddWatchFlags {
    AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR
        | AddWatchFlags::IN_DONT_FOLLOW
}

/// A kernel limit in `/proc/sys/fs/inotify/`, for the log.
pub fn kernel_limit(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/fs/inotify/{name}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

/// The kernel's watch limits for the log: the system's, and the user namespace's (the lower
/// applies).
fn watch_limits() -> String {
    let userns = std::fs::read_to_string("/proc/sys/user/max_inotify_watches")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    format!(
        "fs.inotify.max_user_watches = {}, user.max_inotify_watches = {userns}",
        kernel_limit("max_user_watches")
    )
}

impl InotifyWatch {
    /// Watches every directory of `trees` (real paths), at most `max` in all; `own` are the
    /// agent's own folders, never watched.
    pub fn new(trees: &[PathBuf], max: usize, own: &[PathBuf]) -> std::io::Result<InotifyWatch> {
        let fd = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let mut watch = InotifyWatch {
            fd,
            dirs: HashMap::new(),
            trees: trees
                .iter()
                .map(|root| Tree {
                    root: root.clone(),
                    fallen: None,
                })
                .collect(),
            max,
            own: own.to_vec(),
        };
        for i in 0..watch.trees.len() {
            let root = watch.trees[i].root.clone();
            watch.add(i, &root);
            if watch.trees[i].fallen.is_none() {
                tracing::info!(
                    "Real time (inotify): {} watched ({} directories in all).",
                    root.display(),
                    watch.dirs.len()
                );
            }
        }
        Ok(watch)
    }

    /// Directories watched now.
    pub fn watches(&self) -> usize {
        self.dirs.len()
    }

    /// Watches `dir` and every directory below it, for tree `i`.
    fn add(&mut self, i: usize, dir: &Path) {
        if self.trees[i].fallen.is_some() {
            return;
        }
        let mut stack = vec![dir.to_path_buf()];
        while let Some(dir) = stack.pop() {
            if self.own.iter().any(|o| dir.starts_with(o)) {
                continue;
            }
            if self.dirs.len() >= self.max {
                let why = format!(
                    "realtime_max_watches = {} reached (the kernel's limits: {})",
                    self.max,
                    watch_limits()
                );
                return self.fall(i, why);
            }
            match self.fd.add_watch(&dir, mask()) {
                Ok(wd) => {
                    self.dirs.insert(wd, (dir.clone(), i));
                }
                Err(Errno::ENOSPC) => {
                    let why = format!(
                        "the kernel's watch limit ({}) reached with {} watches of this agent",
                        watch_limits(),
                        self.dirs.len()
                    );
                    return self.fall(i, why);
                }
                // Gone meanwhile, or not a directory any more: its parent's event says so.
                Err(Errno::ENOENT | Errno::ENOTDIR) => continue,
                Err(e) => {
                    tracing::warn!(
                        "Real time: cannot watch {}: {e}; changes in it wait for the scheduled check.",
                        dir.display()
                    );
                    continue;
                }
            }
            let Ok(reader) = std::fs::read_dir(&dir) else {
                continue;
            };
            for item in reader.flatten() {
                if item.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(item.path());
                }
            }
        }
    }

    /// Tree `i` falls back to the scheduled check: all its watches are removed.
    fn fall(&mut self, i: usize, why: String) {
        let before = self.dirs.len();
        let wds: Vec<WatchDescriptor> = self
            .dirs
            .iter()
            .filter(|(_, (_, t))| *t == i)
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            let _ = self.fd.rm_watch(wd);
            self.dirs.remove(&wd);
        }
        tracing::error!(
            "Real time: {} is NOT watched: {why}; its {} watches are removed and it is checked by the scheduled check only.",
            self.trees[i].root.display(),
            before - self.dirs.len()
        );
        self.trees[i].fallen = Some(why);
    }

    /// Stops watching `dir` and the directories below it (moved away or deleted).
    fn forget(&mut self, dir: &Path) {
        let wds: Vec<WatchDescriptor> = self
            .dirs
            .iter()
            .filter(|(_, (d, _))| d.starts_with(dir))
            .map(|(wd, _)| *wd)
            .collect();
        for wd in wds {
            let _ = self.fd.rm_watch(wd);
            self.dirs.remove(&wd);
        }
    }
}

impl Source for InotifyWatch {
    fn name(&self) -> &'static str {
        "inotify"
    }

    fn fallen(&self) -> Vec<(PathBuf, String)> {
        self.trees
            .iter()
            .filter_map(|t| t.fallen.clone().map(|why| (t.root.clone(), why)))
            .collect()
    }

    fn wait(&mut self, timeout: Duration, batch: &mut Batch) -> std::io::Result<()> {
        super::wait_readable(self.fd.as_fd().as_raw_fd(), timeout)?;
        loop {
            let events = match self.fd.read_events() {
                Ok(events) => events,
                Err(Errno::EAGAIN) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            };
            for event in events {
                if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                    tracing::warn!(
                        "Real time: the inotify queue overflowed (fs.inotify.max_queued_events = {}): events were lost; every watched tree is checked whole.",
                        kernel_limit("max_queued_events")
                    );
                    batch.overflow = true;
                    for tree in self.trees.iter().filter(|t| t.fallen.is_none()) {
                        batch.whole.insert(tree.root.clone());
                    }
                    continue;
                }
                let Some((dir, i)) = self.dirs.get(&event.wd).cloned() else {
                    continue;
                };
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.dirs.remove(&event.wd);
                    continue;
                }
                let path = match &event.name {
                    Some(name) if !name.is_empty() => dir.join(OsStr::from_bytes(name.as_bytes())),
                    _ => dir.clone(),
                };
                let is_dir = event.mask.contains(AddWatchFlags::IN_ISDIR);
                // An entry created, deleted or moved changes its folder (mtime, ctime, links).
                if path != dir
                    && event.mask.intersects(
                        AddWatchFlags::IN_CREATE
                            | AddWatchFlags::IN_DELETE
                            | AddWatchFlags::IN_MOVED_FROM
                            | AddWatchFlags::IN_MOVED_TO,
                    )
                {
                    batch.touched.insert(dir.clone());
                }
                if is_dir
                    && event
                        .mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO)
                {
                    self.add(i, &path);
                    batch.whole.insert(path);
                } else if is_dir
                    && event
                        .mask
                        .intersects(AddWatchFlags::IN_MOVED_FROM | AddWatchFlags::IN_DELETE)
                {
                    self.forget(&path);
                    batch.whole.insert(path);
                } else {
                    batch.touched.insert(path);
                }
            }
        }
    }
}
