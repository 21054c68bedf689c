//! Block devices and their partitions, read from `<sys>/block/*` as `lsblk` does.

use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

/// Size of the unit `<sys>/block/*/size` and `start` count in, whatever the device's sector size.
const SECTOR: u64 = 512;

/// One whole block device (`<sys>/block/<name>`).
#[derive(Serialize, Debug, PartialEq)]
pub struct BlockDevice {
    /// Kernel name, e.g. `sda`, `nvme0n1`, `loop0`.
    pub name: String,
    /// `major:minor` from `dev`.
    pub dev: Option<String>,
    /// Capacity: `size` (512-byte sectors) times 512.
    pub size_bytes: Option<u64>,
    /// `queue/rotational`: a spinning disk (true) or not.
    pub rotational: Option<bool>,
    /// `removable`: removable media (USB stick, CD drive).
    pub removable: Option<bool>,
    /// `ro`: the kernel refuses writes.
    pub read_only: Option<bool>,
    /// `device/model`, when the device has one.
    pub model: Option<String>,
    /// `device/vendor`, when the device has one.
    pub vendor: Option<String>,
    /// The partitions, by number.
    pub partitions: Vec<Partition>,
}

/// One partition (`<sys>/block/<disk>/<part>/`, a folder with a `partition` file).
#[derive(Serialize, Debug, PartialEq)]
pub struct Partition {
    /// Kernel name, e.g. `sda1`, `nvme0n1p2`.
    pub name: String,
    /// Partition number from `partition`.
    pub number: Option<u32>,
    /// Offset from the start of the disk: `start` times 512.
    pub start_bytes: Option<u64>,
    /// Size: `size` times 512.
    pub size_bytes: Option<u64>,
    /// `ro`: the kernel refuses writes.
    pub read_only: Option<bool>,
}

/// Reads every device under `block_dir` (`<sys>/block`), sorted by name.
///
/// Fails only when `block_dir` itself cannot be listed; a missing attribute becomes `None`.
pub fn read_block_devices(block_dir: &Path) -> io::Result<Vec<BlockDevice>> {
    let mut devices = Vec::new();
    for entry in fs::read_dir(block_dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        devices.push(read_device(&entry.path(), name));
    }
    devices.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(devices)
}

/// Reads one device folder (a symlink into `/sys/devices` on a real system).
pub fn read_device(dir: &Path, name: String) -> BlockDevice {
    BlockDevice {
        dev: read_text(&dir.join("dev")),
        size_bytes: read_u64(&dir.join("size")).map(|s| s * SECTOR),
        rotational: read_bool(&dir.join("queue/rotational")),
        removable: read_bool(&dir.join("removable")),
        read_only: read_bool(&dir.join("ro")),
        model: read_text(&dir.join("device/model")),
        vendor: read_text(&dir.join("device/vendor")),
        partitions: read_partitions(dir),
        name,
    }
}

fn read_partitions(dir: &Path) -> Vec<Partition> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut parts: Vec<Partition> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("partition").is_file())
        .map(|p| Partition {
            name: p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            number: read_text(&p.join("partition")).and_then(|n| n.parse().ok()),
            start_bytes: read_u64(&p.join("start")).map(|s| s * SECTOR),
            size_bytes: read_u64(&p.join("size")).map(|s| s * SECTOR),
            read_only: read_bool(&p.join("ro")),
        })
        .collect();
    parts.sort_by(|a, b| (a.number, &a.name).cmp(&(b.number, &b.name)));
    parts
}

/// The trimmed content of a sysfs attribute; `None` when it is missing, unreadable or empty.
fn read_text(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn read_u64(path: &Path) -> Option<u64> {
    read_text(path)?.parse().ok()
}

fn read_bool(path: &Path) -> Option<bool> {
    match read_text(path)?.as_str() {
        "0" => Some(false),
        "1" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic/sys/block")
    }

    #[test]
    fn reads_disk_with_partitions() {
        let devices = read_block_devices(&testdata()).unwrap();
        let names: Vec<_> = devices.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["loop0", "nvme0n1", "sda"]);

        let sda = &devices[2];
        assert_eq!(sda.dev.as_deref(), Some("8:0"));
        assert_eq!(sda.size_bytes, Some(1_953_525_168 * 512));
        assert_eq!(sda.rotational, Some(true));
        assert_eq!(sda.removable, Some(false));
        assert_eq!(sda.read_only, Some(false));
        assert_eq!(sda.model.as_deref(), Some("WDC WD10EZEX-08W"));
        assert_eq!(sda.vendor.as_deref(), Some("ATA"));
        let parts: Vec<_> = sda.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(parts, ["sda1", "sda2"]);
        assert_eq!(sda.partitions[0].number, Some(1));
        assert_eq!(sda.partitions[0].start_bytes, Some(2048 * 512));
        assert_eq!(sda.partitions[0].size_bytes, Some(1_048_576 * 512));
        assert_eq!(sda.partitions[1].size_bytes, Some(1_952_474_112 * 512));
    }

    #[test]
    fn missing_attributes_are_none() {
        let devices = read_block_devices(&testdata()).unwrap();
        let nvme = &devices[1];
        assert_eq!(nvme.rotational, Some(false));
        assert_eq!(nvme.model.as_deref(), Some("Samsung SSD 980 PRO 1TB"));
        // NVMe devices have no vendor file.
        assert_eq!(nvme.vendor, None);
        assert_eq!(nvme.partitions.len(), 1);
        assert_eq!(nvme.partitions[0].name, "nvme0n1p1");

        let loop0 = &devices[0];
        assert_eq!(loop0.size_bytes, Some(0));
        assert_eq!(loop0.model, None);
        // No `queue/rotational` in the fixture.
        assert_eq!(loop0.rotational, None);
        assert!(loop0.partitions.is_empty());
    }

    #[test]
    fn missing_block_dir_is_an_error() {
        assert!(read_block_devices(Path::new("/nonexistent/sys/block")).is_err());
    }
}
