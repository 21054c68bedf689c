//! The fanotify source: one mark on the whole file system of each real-time tree
//! (`FAN_MARK_FILESYSTEM`), events reported with the directory's file handle and the entry's
//! name (`FAN_REPORT_DFID_NAME`, Linux 5.9), so creations, deletions and renames are seen as
//! well as writes and attribute changes, with no per-directory watch and no watch limit. It
//! needs CAP_SYS_ADMIN (and CAP_DAC_READ_SEARCH to turn a handle back into a path). The
//! events of the whole file system arrive; those outside the trees are dropped by path.
//! Written on `libc` (nix 0.32's fanotify has no `FAN_REPORT_*FID` nor info records).

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::path::PathBuf;
use std::time::Duration;

use super::{Batch, Source};

/// The mask marked on each file system.
const MASK: u64 = libc::FAN_MODIFY
    | libc::FAN_ATTRIB
    | libc::FAN_CLOSE_WRITE
    | libc::FAN_CREATE
    | libc::FAN_DELETE
    | libc::FAN_MOVED_FROM
    | libc::FAN_MOVED_TO
    | libc::FAN_DELETE_SELF
    | libc::FAN_MOVE_SELF
    | libc::FAN_ONDIR;

/// Size of `fanotify_event_metadata`.
const METADATA_LEN: usize = 24;
/// Most cached handle-to-folder lookups (cleared when full).
const MAX_CACHED: usize = 4096;

/// One event as the kernel wrote it: its mask, its folder's file system id and handle
/// (`struct file_handle`: length, type, bytes) and the entry's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub mask: u64,
    pub fsid: [u8; 8],
    pub handle: Vec<u8>,
    pub name: Option<Vec<u8>>,
}

fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(buf.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(buf.get(at..at + 8)?.try_into().ok()?))
}

/// Parses what one `read` of a fanotify descriptor gave (`FAN_REPORT_DFID_NAME`): events
/// whose lengths do not fit are left out. Also returns the descriptors of events that carried
/// one (none in this mode; the caller closes them).
pub fn parse(buf: &[u8]) -> (Vec<RawEvent>, Vec<i32>) {
    let mut events = Vec::new();
    let mut fds = Vec::new();
    let mut at = 0;
    while at + METADATA_LEN <= buf.len() {
        let (Some(len), Some(meta_len), Some(mask), Some(fd)) = (
            u32_at(buf, at),
            u16_at(buf, at + 6),
            u64_at(buf, at + 8),
            u32_at(buf, at + 16),
        ) else {
            break;
        };
        let (len, meta_len) = (len as usize, meta_len as usize);
        if len < METADATA_LEN || meta_len < METADATA_LEN || meta_len > len || at + len > buf.len() {
            break;
        }
        if (fd as i32) >= 0 {
            fds.push(fd as i32);
        }
        let mut event = RawEvent {
            mask,
            fsid: [0; 8],
            handle: Vec::new(),
            name: None,
        };
        let end = at + len;
        let mut info = at + meta_len;
        while info + 4 <= end {
            let kind = buf[info];
            let Some(info_len) = u16_at(buf, info + 2).map(usize::from) else {
                break;
            };
            if info_len < 4 || info + info_len > end {
                break;
            }
            let record = &buf[info..info + info_len];
            // FID (1), DFID_NAME (2), DFID (3): header, fsid, file_handle, [name].
            if matches!(kind, 1..=3)
                && record.len() >= 4 + 8 + 8
                && let Some(bytes) = u32_at(record, 12).map(|b| b as usize)
                && 20 + bytes <= record.len()
                && (event.handle.is_empty() || kind == 2)
            {
                event.fsid.copy_from_slice(&record[4..12]);
                event.handle = record[12..20 + bytes].to_vec();
                event.name = (kind == 2).then(|| {
                    let rest = &record[20 + bytes..];
                    let stop = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
                    rest[..stop].to_vec()
                });
            }
            info += info_len;
        }
        events.push(event);
        at += len;
    }
    (events, fds)
}

/// The file system id of `path` (as fanotify reports it).
fn fsid(fd: &OwnedFd) -> std::io::Result<[u8; 8]> {
    // SAFETY: fstatfs fills a zeroed struct for a descriptor we own.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fsid_t is two C ints, 8 bytes, as the event's record has it.
    Ok(unsafe { std::mem::transmute::<libc::fsid_t, [u8; 8]>(buf.f_fsid) })
}

/// fanotify over the file systems of the real-time trees.
pub struct FanotifyWatch {
    fd: OwnedFd,
    /// Per file system id: a descriptor on it, to open handles with.
    mounts: Vec<([u8; 8], OwnedFd)>,
    trees: Vec<PathBuf>,
    buf: Vec<u8>,
    cache: HashMap<([u8; 8], Vec<u8>), Option<PathBuf>>,
}

impl FanotifyWatch {
    /// Marks the file system of each tree (real paths). Fails (EPERM without CAP_SYS_ADMIN,
    /// EINVAL on a kernel without `FAN_REPORT_DFID_NAME`, ENODEV/EXDEV/EOPNOTSUPP on a file
    /// system without handles) with the reason; the caller may fall back to inotify.
    pub fn new(trees: &[PathBuf]) -> std::io::Result<FanotifyWatch> {
        let flags = libc::FAN_CLASS_NOTIF
            | libc::FAN_CLOEXEC
            | libc::FAN_NONBLOCK
            | libc::FAN_REPORT_DFID_NAME;
        // SAFETY: plain syscall; the descriptor is owned below.
        let raw = unsafe {
            libc::fanotify_init(flags, (libc::O_RDONLY | libc::O_LARGEFILE) as libc::c_uint)
        };
        if raw < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a new descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let mut mounts: Vec<([u8; 8], OwnedFd)> = Vec::new();
        for tree in trees {
            let c = CString::new(tree.as_os_str().as_bytes())
                .map_err(|_| std::io::Error::other("a path with NUL"))?;
            // SAFETY: marks a path given as a C string.
            let rc = unsafe {
                libc::fanotify_mark(
                    fd.as_raw_fd(),
                    libc::FAN_MARK_ADD | libc::FAN_MARK_FILESYSTEM,
                    MASK,
                    libc::AT_FDCWD,
                    c.as_ptr(),
                )
            };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("marking the file system of {}: {e}", tree.display()),
                ));
            }
            let dir = std::fs::File::open(tree)?;
            let dir = OwnedFd::from(dir);
            let id = fsid(&dir)?;
            if !mounts.iter().any(|(m, _)| *m == id) {
                mounts.push((id, dir));
            }
            tracing::info!(
                "Real time (fanotify): the file system of {} is marked.",
                tree.display()
            );
        }
        Ok(FanotifyWatch {
            fd,
            mounts,
            trees: trees.to_vec(),
            buf: vec![0; 64 * 1024],
            cache: HashMap::new(),
        })
    }

    /// The folder a handle names now (`None`: gone, or on no marked file system).
    fn folder(&mut self, fsid: [u8; 8], handle: &[u8]) -> Option<PathBuf> {
        let key = (fsid, handle.to_vec());
        if let Some(known) = self.cache.get(&key) {
            return known.clone();
        }
        let mount = self.mounts.iter().find(|(id, _)| *id == fsid)?;
        // open_by_handle_at reads a `struct file_handle` (two u32 then the bytes): an aligned
        // copy.
        let mut aligned = vec![0u32; handle.len().div_ceil(4)];
        // SAFETY: the copy fits: `aligned` has at least `handle.len()` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                handle.as_ptr(),
                aligned.as_mut_ptr().cast::<u8>(),
                handle.len(),
            );
        }
        // SAFETY: the handle as the kernel gave it; the new descriptor is owned below.
        let raw = unsafe {
            libc::syscall(
                libc::SYS_open_by_handle_at,
                mount.1.as_raw_fd(),
                aligned.as_ptr(),
                libc::O_PATH | libc::O_CLOEXEC,
            )
        };
        let path = if raw < 0 {
            None
        } else {
            // SAFETY: a new descriptor nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                .ok()
                .filter(|p| !p.as_os_str().as_bytes().ends_with(b" (deleted)"))
        };
        if self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        // A folder renamed later has another path: only this read's events use the cache.
        self.cache.insert(key, path.clone());
        path
    }
}

impl Source for FanotifyWatch {
    fn name(&self) -> &'static str {
        "fanotify"
    }

    fn fallen(&self) -> Vec<(PathBuf, String)> {
        Vec::new()
    }

    fn wait(&mut self, timeout: Duration, batch: &mut Batch) -> std::io::Result<()> {
        super::wait_readable(self.fd.as_raw_fd(), timeout)?;
        loop {
            // SAFETY: reads into a buffer this watch owns, at most its length.
            let n = unsafe {
                libc::read(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                match e.kind() {
                    std::io::ErrorKind::WouldBlock => break,
                    std::io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            if n == 0 {
                break;
            }
            let (events, fds) = parse(&self.buf[..n as usize]);
            for fd in fds {
                // SAFETY: a descriptor the kernel gave this process with the event.
                drop(unsafe { OwnedFd::from_raw_fd(fd) });
            }
            for event in events {
                if event.mask & libc::FAN_Q_OVERFLOW != 0 {
                    tracing::warn!(
                        "Real time: the fanotify queue overflowed: events were lost; every watched tree is checked whole."
                    );
                    batch.overflow = true;
                    batch.whole.extend(self.trees.iter().cloned());
                    continue;
                }
                if event.handle.is_empty() {
                    continue;
                }
                let Some(dir) = self.folder(event.fsid, &event.handle) else {
                    continue;
                };
                if !self
                    .trees
                    .iter()
                    .any(|t| dir.starts_with(t) || t.starts_with(&dir))
                {
                    continue;
                }
                let path = match &event.name {
                    Some(name) if !name.is_empty() && name != b"." => {
                        dir.join(OsStr::from_bytes(name))
                    }
                    _ => dir.clone(),
                };
                let is_dir = event.mask & libc::FAN_ONDIR != 0;
                let dirent =
                    libc::FAN_CREATE | libc::FAN_DELETE | libc::FAN_MOVED_FROM | libc::FAN_MOVED_TO;
                // An entry created, deleted or moved changes its folder (mtime, ctime, links).
                if event.mask & dirent != 0 && path != dir {
                    batch.touched.insert(dir);
                }
                if is_dir && event.mask & dirent != 0 {
                    batch.whole.insert(path);
                } else {
                    batch.touched.insert(path);
                }
            }
            self.cache.clear();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_with_a_folder_handle_and_a_name_is_parsed_and_a_cut_one_is_left_out() {
        let mut buf = Vec::new();
        let handle = [8u8, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
        let record_len = 4 + 8 + handle.len() + 4; // name "ab\0" padded to 4
        let len = METADATA_LEN + record_len;
        buf.extend_from_slice(&(len as u32).to_ne_bytes());
        buf.extend_from_slice(&[3, 0]);
        buf.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        buf.extend_from_slice(&(libc::FAN_CREATE | libc::FAN_ONDIR).to_ne_bytes());
        buf.extend_from_slice(&(-1i32).to_ne_bytes());
        buf.extend_from_slice(&42i32.to_ne_bytes());
        buf.extend_from_slice(&[2, 0]);
        buf.extend_from_slice(&(record_len as u16).to_ne_bytes());
        buf.extend_from_slice(&[9; 8]);
        buf.extend_from_slice(&handle);
        buf.extend_from_slice(b"ab\0\0");
        let (events, fds) = parse(&buf);
        assert!(fds.is_empty());
        assert_eq!(
            events,
            vec![RawEvent {
                mask: libc::FAN_CREATE | libc::FAN_ONDIR,
                fsid: [9; 8],
                handle: handle.to_vec(),
                name: Some(b"ab".to_vec()),
            }]
        );
        assert!(parse(&buf[..buf.len() - 1]).0.is_empty());
    }
}
