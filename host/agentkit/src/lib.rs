//! What every agent binary (nodus, gearman, bootagent) does at start, in one place: its common
//! flags ([`AgentArgs`]), logs to a file (`-L`) or stderr at a level an environment variable may
//! override, a PID file (`-P`) removed on exit, one malloc arena for all of its threads, and
//! free heap pages given back after a burst of work. Also the hardening every agent shares:
//! [`private`] state (folders `0700`, files `0600`) and [`socket`] (control sockets bound
//! under a restrictive umask, each peer checked with `SO_PEERCRED`). With the `signature`
//! feature, [`signature`]: the release key and the minisign check of a download, shared by
//! the BootAgent (packages) and gearman (plugins). [`systemd`]: readiness for `Type=notify` units.

mod cli;
pub mod private;
#[cfg(feature = "signature")]
pub mod signature;
pub mod socket;
pub mod systemd;

pub use cli::{AgentArgs, AgentDefaults, check_verdict};

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Sends logs to `file` (appending, folders created) or stderr, at `level` (error, warn,
/// info, debug, trace) unless the environment variable `level_env` names another level.
pub fn init_logging(file: Option<&Path>, level: &str, level_env: &str) -> anyhow::Result<()> {
    let level = std::env::var(level_env).unwrap_or_else(|_| level.to_string());
    let filter: tracing_subscriber::filter::LevelFilter = level.parse().map_err(|_| {
        anyhow::anyhow!("log level `{level}` is not one of error, warn, info, debug, trace")
    })?;
    let builder = tracing_subscriber::fmt()
        .with_max_level(filter)
        .with_target(false)
        .with_ansi(false);
    match file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("create {}", dir.display()))?;
            }
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("open log file {}", path.display()))?;
            builder.with_writer(std::sync::Mutex::new(file)).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}

/// Makes every thread allocate from one shared malloc arena. glibc gives each thread that
/// allocates an arena of its own (up to eight per core) and keeps it for the life of the
/// process; an agent's threads are few and mostly idle, so the extra arenas are resident memory
/// (~80 kB each) bought for lock contention the agent does not have. Call it first in `main`.
pub fn share_one_malloc_arena() {
    // SAFETY: mallopt only sets a tunable of the allocator; called before any thread starts.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Makes allocations of `bytes` and more mapped of their own and unmapped when freed, and
/// free room at the top of the heap returned past twice that. glibc starts at 128 kB but
/// raises the threshold (to 32 MB) each time such a block is freed, after which buffers an
/// agent fills and frees over and over (logagent's batch bodies) come from the heap and leave
/// their room resident. Call it first in `main`.
pub fn map_large_allocations(bytes: usize) {
    let (map, trim) = (
        libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX),
        libc::c_int::try_from(bytes.saturating_mul(2)).unwrap_or(libc::c_int::MAX),
    );
    // SAFETY: mallopt only sets tunables of the allocator; called before any thread starts.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, map);
        libc::mallopt(libc::M_TRIM_THRESHOLD, trim);
    }
    #[cfg(not(target_env = "gnu"))]
    let _ = (map, trim);
}

/// Gives the allocator's free pages back to the system. A burst of short-lived allocations (a
/// package downloaded and unpacked on a few threads at once) leaves free memory spread through
/// the heap, which glibc keeps resident until the top of the heap is free; call it after such
/// a burst.
pub fn release_free_memory() {
    // SAFETY: malloc_trim only returns free pages; it takes the allocator's locks itself.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A PID file, removed when dropped.
pub struct PidFile(PathBuf);

impl PidFile {
    /// Writes this process's id to `path`: to a file beside it first, then renamed over it, so
    /// a reader (a test, an init script, `kill $(cat ...)`) never sees it empty or half written.
    pub fn write(path: &Path) -> anyhow::Result<PidFile> {
        let mut partial = path.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, format!("{}\n", std::process::id()))
            .and_then(|()| std::fs::rename(&partial, path))
            .with_context(|| format!("write PID file {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::PidFile;

    #[test]
    fn pid_file_holds_the_id_with_nothing_left_beside_it_and_goes_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.pid");
        let pid_file = PidFile::write(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["agent.pid"]);
        drop(pid_file);
        assert!(!path.exists());
    }
}
