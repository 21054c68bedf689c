//! Mounted filesystems from `<proc>/self/mounts`, and their usage through `statvfs(2)` as `df`
//! computes it.

use std::path::Path;

use serde::Serialize;

/// Filesystem types that hold no data of their own; `df` hides them unless given `-a`.
const PSEUDO_FS: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "efivarfs",
    "fuse.portal",
    "fusectl",
    "hugetlbfs",
    "mqueue",
    "none",
    "nsfs",
    "proc",
    "pstore",
    "rootfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "sysfs",
    "tracefs",
];

/// One line of `/proc/self/mounts`.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Mount {
    /// What is mounted: a device path, `server:/export`, or a name such as `tmpfs`.
    pub device: String,
    /// Where, with the kernel's octal escapes (`\040` for a space) decoded.
    pub mount_point: String,
    /// Filesystem type, e.g. `ext4`, `tmpfs`, `nfs4`.
    pub fs_type: String,
    /// Mount options, one per element.
    pub options: Vec<String>,
}

/// Space and inode usage of a mounted filesystem, as `df -B1` and `df -i` report it.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Usage {
    /// Size of the filesystem (`f_blocks * f_frsize`): df's `1B-blocks`.
    pub total_bytes: u64,
    /// Bytes in use (`(f_blocks - f_bfree) * f_frsize`): df's `Used`.
    pub used_bytes: u64,
    /// Bytes an unprivileged user may still write (`f_bavail * f_frsize`): df's `Available`.
    pub available_bytes: u64,
    /// `used / (used + available) * 100`, two decimals; df prints it rounded up. `None` for
    /// an empty filesystem.
    pub used_percent: Option<f64>,
    /// Number of inodes (`f_files`); 0 for filesystems without a fixed inode table.
    pub inodes_total: u64,
    /// Inodes in use (`f_files - f_ffree`).
    pub inodes_used: u64,
    /// Inodes still free (`f_ffree`).
    pub inodes_free: u64,
}

/// Parses `/proc/self/mounts` (procparse: `fstab(5)` syntax, the kernel's `\040`-style
/// escapes decoded, short lines skipped). Bytes, not text: a mount point need not be UTF-8.
pub fn parse_mounts(text: &[u8]) -> Vec<Mount> {
    procparse::mounts::parse(text)
        .into_iter()
        .map(|m| Mount {
            device: m.device,
            mount_point: m.mount_point,
            fs_type: m.fs_type,
            options: m.options,
        })
        .collect()
}

/// Whether `fs_type` is a pseudo filesystem that `df` leaves out without `-a`.
pub fn is_pseudo(fs_type: &str) -> bool {
    PSEUDO_FS.contains(&fs_type)
}

/// Strips trailing slashes so that `/mnt/data/` names the mount `/mnt/data`.
pub fn normalize_mount_point(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" if path.starts_with('/') => "/",
        trimmed => trimmed,
    }
}

/// The mounts to report.
///
/// - `only`: the (visible, i.e. last) mount at that mount point, or `None` if nothing is
///   mounted there.
/// - `all`: every line.
/// - otherwise: as `df` without `-a`, pseudo filesystems are dropped and, when several
///   filesystems are mounted on the same point, only the last one (the visible one) is kept.
pub fn select(mounts: Vec<Mount>, all: bool, only: Option<&str>) -> Option<Vec<Mount>> {
    if let Some(wanted) = only {
        let wanted = normalize_mount_point(wanted);
        return mounts
            .into_iter()
            .rev()
            .find(|m| m.mount_point == wanted)
            .map(|m| vec![m]);
    }
    if all {
        return Some(mounts);
    }
    let mut kept: Vec<Mount> = Vec::new();
    for mount in mounts.into_iter().filter(|m| !is_pseudo(&m.fs_type)) {
        kept.retain(|k| k.mount_point != mount.mount_point);
        kept.push(mount);
    }
    Some(kept)
}

/// Computes the usage from the fields of a `statvfs` result.
pub fn usage_from(
    blocks: u64,
    blocks_free: u64,
    blocks_available: u64,
    fragment_size: u64,
    files: u64,
    files_free: u64,
) -> Usage {
    let used_blocks = blocks.saturating_sub(blocks_free);
    let denominator = used_blocks + blocks_available;
    let used_percent = (denominator > 0).then(|| {
        let pct = used_blocks as f64 * 100.0 / denominator as f64;
        (pct * 100.0).round() / 100.0
    });
    Usage {
        total_bytes: blocks * fragment_size,
        used_bytes: used_blocks * fragment_size,
        available_bytes: blocks_available * fragment_size,
        used_percent,
        inodes_total: files,
        inodes_used: files.saturating_sub(files_free),
        inodes_free: files_free,
    }
}

/// Calls `statvfs` on `mount_point`; the error is the text to report.
pub fn usage(mount_point: &Path) -> Result<Usage, String> {
    let st = nix::sys::statvfs::statvfs(mount_point)
        .map_err(|e| format!("statvfs {}: {}", mount_point.display(), e.desc()))?;
    Ok(usage_from(
        st.blocks(),
        st.blocks_free(),
        st.blocks_available(),
        st.fragment_size(),
        st.files(),
        st.files_free(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<Mount> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic/proc/self/mounts");
        parse_mounts(&std::fs::read(path).unwrap())
    }

    #[test]
    fn parses_and_unescapes_mounts() {
        let mounts = fixture();
        assert_eq!(mounts.len(), 12);
        let root = &mounts[5];
        assert_eq!(root.device, "/dev/nvme0n1p1");
        assert_eq!(root.mount_point, "/");
        assert_eq!(root.fs_type, "ext4");
        assert_eq!(root.options, ["rw", "relatime", "errors=remount-ro"]);
        assert_eq!(mounts[8].mount_point, "/media/My Disk");
        assert_eq!(mounts[11].mount_point, "/mnt/tab\tand\\slash");
        assert_eq!(mounts[11].device, "server:/export");
    }

    #[test]
    fn default_selection_is_like_df() {
        let points: Vec<_> = select(fixture(), false, None)
            .unwrap()
            .into_iter()
            .map(|m| m.mount_point)
            .collect();
        // No sysfs/proc/devpts/securityfs/cgroup2; `/run` once, at the place of its last mount.
        assert_eq!(
            points,
            [
                "/dev",
                "/",
                "/media/My Disk",
                "/boot/efi",
                "/run",
                "/mnt/tab\tand\\slash"
            ]
        );
        assert_eq!(select(fixture(), true, None).unwrap().len(), 12);
    }

    #[test]
    fn selects_one_mount_point() {
        let run = select(fixture(), false, Some("/run/")).unwrap();
        assert_eq!(run.len(), 1);
        // The visible one is the last mounted.
        assert!(
            run[0].options.contains(&"size=65536k".to_string()),
            "{run:?}"
        );
        let sys = select(fixture(), false, Some("/sys")).unwrap();
        assert_eq!(sys[0].fs_type, "sysfs");
        assert_eq!(select(fixture(), false, Some("/nope")), None);
        assert_eq!(normalize_mount_point("///"), "/");
    }

    #[test]
    fn usage_is_computed_like_df() {
        // The numbers of a real ext4 filesystem with 4 KiB blocks and 5% reserved.
        let u = usage_from(
            66_053_021, 62_776_249, 59_405_429, 4096, 16_777_216, 16_600_000,
        );
        assert_eq!(u.total_bytes, 66_053_021 * 4096);
        assert_eq!(u.used_bytes, (66_053_021 - 62_776_249) * 4096);
        assert_eq!(u.available_bytes, 59_405_429 * 4096);
        assert_eq!(u.used_percent, Some(5.23));
        assert_eq!(u.inodes_used, 177_216);
        assert_eq!(usage_from(0, 0, 0, 4096, 0, 0).used_percent, None);
    }

    #[test]
    fn statvfs_of_a_missing_path_is_an_error_text() {
        let err = usage(Path::new("/nonexistent/mount/point")).unwrap_err();
        assert!(err.contains("/nonexistent/mount/point"), "{err}");
        assert!(usage(Path::new("/")).unwrap().total_bytes > 0);
    }
}
