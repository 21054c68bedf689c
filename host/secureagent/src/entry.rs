//! One checked entry: its path (relative to the root prefix) and the values of the attributes
//! its rule names, read from `lstat`, `readlink` and the extended attributes (never following
//! a symlink), plus its hashes; how each value is shown in reports; which attributes differ.

use std::ffi::CString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use base64::Engine as _;

use crate::hash::Hashes;
use crate::rules::{Attr, AttrSet, FileKind};

/// A time stamp with nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    pub sec: i64,
    pub nsec: u32,
}

/// An entry as read from the file system or the baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path below the root prefix, starting with `/` (bytes: Unix paths need not be UTF-8).
    pub path: Box<[u8]>,
    /// What its rule checks.
    pub attrs: AttrSet,
    pub kind: FileKind,
    /// Permission bits (`mode & 07777`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub blocks: u64,
    pub inode: u64,
    pub links: u64,
    pub mtime: Time,
    pub ctime: Time,
    pub atime: Time,
    /// The link name and extended attributes, when the rule asks for them (boxed: most
    /// entries have none, and a check holds two entries per path).
    pub extra: Option<Box<Extra>>,
    pub hashes: Hashes,
    /// Why the content (or a directory's listing) could not be read.
    pub unreadable: Option<String>,
    /// During a check of a growing file: the hashes of its first old-size bytes (not stored).
    pub prefix: Option<Box<Hashes>>,
}

/// What few entries carry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Extra {
    /// A symlink's target.
    pub linkname: Option<Box<[u8]>>,
    /// The POSIX ACLs (access and default), base64 of their raw xattr values.
    pub acl: Option<String>,
    /// The other extended attributes, `name=base64` joined with `,`.
    pub xattrs: Option<String>,
    /// The SELinux context.
    pub selinux: Option<String>,
    /// The file capabilities, base64 of `security.capability`.
    pub caps: Option<String>,
}

static NO_EXTRA: Extra = Extra {
    linkname: None,
    acl: None,
    xattrs: None,
    selinux: None,
    caps: None,
};

/// Most bytes of extended attribute names or of one value read (the kernel's own limit).
const XATTR_MAX: usize = 64 * 1024;

impl Entry {
    /// The attributes of `real` (whose path below the root is `path`) that `attrs` names.
    pub fn from_metadata(path: Box<[u8]>, attrs: AttrSet, real: &Path, meta: &Metadata) -> Entry {
        let kind = FileKind::from_mode(meta.mode());
        let mut entry = Entry {
            path,
            attrs,
            kind,
            perm: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size: meta.size(),
            blocks: meta.blocks(),
            inode: meta.ino(),
            links: meta.nlink(),
            mtime: Time {
                sec: meta.mtime(),
                nsec: meta.mtime_nsec() as u32,
            },
            ctime: Time {
                sec: meta.ctime(),
                nsec: meta.ctime_nsec() as u32,
            },
            atime: Time {
                sec: meta.atime(),
                nsec: meta.atime_nsec() as u32,
            },
            extra: None,
            hashes: Hashes::default(),
            unreadable: None,
            prefix: None,
        };
        if attrs.has(Attr::Linkname) && kind == FileKind::Symlink {
            match std::fs::read_link(real) {
                Ok(target) => {
                    entry.extra_mut().linkname = Some(target.as_os_str().as_bytes().into());
                }
                Err(e) => entry.unreadable = Some(format!("readlink: {e}")),
            }
        }
        let wants_x = [Attr::Acl, Attr::Xattrs, Attr::Selinux, Attr::Caps]
            .iter()
            .any(|a| attrs.has(*a));
        if wants_x && let Err(e) = entry.read_xattrs(real) {
            entry.unreadable = Some(format!("extended attributes: {e}"));
        }
        entry
    }

    /// The link name and extended attributes (empty when the rule asks for none).
    pub fn extra(&self) -> &Extra {
        self.extra.as_deref().unwrap_or(&NO_EXTRA)
    }

    /// The same, to fill in.
    pub fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    fn read_xattrs(&mut self, real: &Path) -> std::io::Result<()> {
        let names = list_xattrs(real)?;
        let extra = self.extra_mut();
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut acl = Vec::new();
        let mut other = Vec::new();
        for name in names {
            let value = get_xattr(real, &name)?;
            match name.as_str() {
                "system.posix_acl_access" | "system.posix_acl_default" => {
                    acl.push(format!("{name}={}", b64.encode(&value)));
                }
                "security.selinux" => {
                    extra.selinux = Some(
                        String::from_utf8_lossy(value.strip_suffix(b"\0").unwrap_or(&value))
                            .into_owned(),
                    );
                }
                "security.capability" => extra.caps = Some(b64.encode(&value)),
                _ => other.push(format!("{name}={}", b64.encode(&value))),
            }
        }
        acl.sort();
        other.sort();
        extra.acl = Some(acl.join(","));
        extra.xattrs = Some(other.join(","));
        extra.selinux.get_or_insert_with(String::new);
        extra.caps.get_or_insert_with(String::new);
        Ok(())
    }

    /// Whether `attr` has the same value in both (both must check it).
    pub fn same(&self, other: &Entry, attr: Attr) -> bool {
        match attr {
            Attr::Ftype => self.kind == other.kind,
            Attr::Perm => self.perm == other.perm && self.kind == other.kind,
            Attr::Inode => self.inode == other.inode,
            Attr::Links => self.links == other.links,
            Attr::Linkname => self.extra().linkname == other.extra().linkname,
            Attr::Uid => self.uid == other.uid,
            Attr::Gid => self.gid == other.gid,
            Attr::Size => self.size == other.size,
            Attr::Blocks => self.blocks == other.blocks,
            Attr::Mtime => self.mtime == other.mtime,
            Attr::Ctime => self.ctime == other.ctime,
            Attr::Atime => self.atime == other.atime,
            Attr::Growing => true,
            Attr::Acl => self.extra().acl == other.extra().acl,
            Attr::Xattrs => self.extra().xattrs == other.extra().xattrs,
            Attr::Selinux => self.extra().selinux == other.extra().selinux,
            Attr::Caps => self.extra().caps == other.extra().caps,
            Attr::Md5 | Attr::Sha256 | Attr::Sha512 | Attr::Blake3 => {
                self.hashes.get(attr) == other.hashes.get(attr)
            }
        }
    }

    /// The value of `attr` as reports show it (AIDE's style: `-rw-r--r--`, base64 hashes).
    pub fn value(&self, attr: Attr) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        match attr {
            Attr::Ftype => self.kind.letter().to_string(),
            Attr::Perm => perm_string(self.kind, self.perm),
            Attr::Inode => self.inode.to_string(),
            Attr::Links => self.links.to_string(),
            Attr::Linkname => self
                .extra()
                .linkname
                .as_deref()
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_default(),
            Attr::Uid => self.uid.to_string(),
            Attr::Gid => self.gid.to_string(),
            Attr::Size => self.size.to_string(),
            Attr::Blocks => self.blocks.to_string(),
            Attr::Mtime => time_string(self.mtime),
            Attr::Ctime => time_string(self.ctime),
            Attr::Atime => time_string(self.atime),
            Attr::Growing => String::new(),
            Attr::Acl => self.extra().acl.clone().unwrap_or_default(),
            Attr::Xattrs => self.extra().xattrs.clone().unwrap_or_default(),
            Attr::Selinux => self.extra().selinux.clone().unwrap_or_default(),
            Attr::Caps => self.extra().caps.clone().unwrap_or_default(),
            Attr::Md5 | Attr::Sha256 | Attr::Sha512 | Attr::Blake3 => self
                .hashes
                .get(attr)
                .map(|h| b64.encode(h))
                .unwrap_or_default(),
        }
    }

    /// The path as text (lossy for paths that are not UTF-8).
    pub fn path_str(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// `ls -l`-style permissions with the file type letter (`-rw-r--r--`, `drwxr-xr-x`).
pub fn perm_string(kind: FileKind, perm: u32) -> String {
    let mut s = String::with_capacity(10);
    s.push(match kind {
        FileKind::File => '-',
        other => other.letter(),
    });
    let special = [(0o4000, 's', 'S'), (0o2000, 's', 'S'), (0o1000, 't', 'T')];
    for (i, (bit, set_x, set_nox)) in special.iter().enumerate() {
        let shift = 6 - 3 * i as u32;
        let bits = (perm >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        let x = bits & 1 != 0;
        s.push(match (perm & bit != 0, x) {
            (true, true) => *set_x,
            (true, false) => *set_nox,
            (false, true) => 'x',
            (false, false) => '-',
        });
    }
    s
}

/// `2026-12-04 16:06:55.123456789Z` (UTC; fits AIDE's 32-character report column).
pub fn time_string(t: Time) -> String {
    match chrono::DateTime::from_timestamp(t.sec, t.nsec) {
        Some(d) => d.format("%Y-%m-%d %H:%M:%S%.9fZ").to_string(),
        None => format!("{}.{:09}", t.sec, t.nsec),
    }
}

fn c_path(path: &Path) -> std::io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in path"))
}

fn list_xattrs(path: &Path) -> std::io::Result<Vec<String>> {
    let c = c_path(path)?;
    let mut buf = vec![0u8; XATTR_MAX];
    // SAFETY: the buffer is valid for its length; llistxattr never follows symlinks.
    let n = unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOTSUP) {
            return Ok(Vec::new());
        }
        return Err(e);
    }
    buf.truncate(n as usize);
    Ok(buf
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect())
}

fn get_xattr(path: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let c = c_path(path)?;
    let n = CString::new(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "NUL in name"))?;
    let mut buf = vec![0u8; XATTR_MAX];
    // SAFETY: the buffer is valid for its length; lgetxattr never follows symlinks.
    let len =
        unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    if len < 0 {
        return Err(std::io::Error::last_os_error());
    }
    buf.truncate(len as usize);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_read_like_ls() {
        assert_eq!(perm_string(FileKind::File, 0o644), "-rw-r--r--");
        assert_eq!(perm_string(FileKind::File, 0o602), "-rw-----w-");
        assert_eq!(perm_string(FileKind::Dir, 0o1777), "drwxrwxrwt");
        assert_eq!(perm_string(FileKind::File, 0o4755), "-rwsr-xr-x");
        assert_eq!(perm_string(FileKind::File, 0o2644), "-rw-r-Sr--");
    }
}

#[cfg(test)]
mod size_tests {
    /// A check holds two entries per path: what one costs is what the agent's memory is.
    #[test]
    fn an_entry_stays_small() {
        let size = std::mem::size_of::<super::Entry>();
        assert!(
            size <= 208,
            "Entry is {size} bytes (216 when the extras were boxed, 208 with the hashes \
             other than sha256 in one box)"
        );
    }
}
