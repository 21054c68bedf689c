//! The mount table (`/proc/self/mounts`) and collectd's names for mount points.

/// One line of the mount table.
#[derive(Clone, Debug, PartialEq)]
pub struct Mount {
    /// What is mounted, e.g. `/dev/vda1` or `tmpfs`.
    pub device: String,
    /// Where, e.g. `/boot/efi`.
    pub dir: String,
    /// The file system type, e.g. `ext4`.
    pub fs_type: String,
}

/// Parses a mount table in `fstab(5)` syntax; the kernel writes space, tab, newline and
/// backslash in names as `\040`, `\011`, `\012` and `\134`. Short lines are skipped.
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, dir, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
            Some(Mount {
                device: unescape(device),
                dir: unescape(dir),
                fs_type: unescape(fs_type),
            })
        })
        .collect()
}

/// Decodes the octal escapes `\ooo` of the mount table (as `getmntent(3)` does).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| {
            bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)) && d[0] <= b'3'
        });
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// collectd's plugin instance for a mount point: `/` is `root`, others lose the leading `/`
/// and have the others replaced by `-` (`/boot/efi` becomes `boot-efi`).
pub fn instance_name(dir: &str) -> String {
    if dir == "/" {
        return "root".into();
    }
    dir.strip_prefix('/').unwrap_or(dir).replace('/', "-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_and_names() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"a\134b\011c"), "a\\b\tc");
        assert_eq!(unescape(r"odd\04"), r"odd\04");
        assert_eq!(unescape(r"no\999"), r"no\999");
        assert_eq!(instance_name("/"), "root");
        assert_eq!(instance_name("/boot/efi"), "boot-efi");
        assert_eq!(instance_name("/run/user/1000"), "run-user-1000");
        let m = parse_mounts("a /b c d 0 0\nshort line\n\n");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].fs_type, "c");
    }
}
