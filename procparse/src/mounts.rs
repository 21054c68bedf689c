//! The mount table (`/proc/self/mounts`, `/proc/mounts`; `fstab(5)` syntax) and the octal
//! unescaping of its fields. What each plugin does with a mount (collectd's names, `df`'s
//! selection, `statvfs`) stays in the plugin.

/// One line of the mount table, with the kernel's escapes decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MountEntry {
    /// What is mounted: a device path, `server:/export`, or a name such as `tmpfs`.
    pub device: String,
    /// Where, e.g. `/boot/efi` or `/media/My Disk`.
    pub mount_point: String,
    /// The file system type, e.g. `ext4`.
    pub fs_type: String,
    /// The mount options in the kernel's order (empty when the line has none).
    pub options: Vec<String>,
}

/// Parses a mount table. The kernel writes space, tab, newline and backslash in a field as
/// `\040`, `\011`, `\012` and `\134` (see [`unescape`]). Lines with fewer than three fields
/// (device, mount point, type) are skipped, as `getmntent(3)` skips them. Takes bytes: a
/// mount point may be any bytes but those four, not necessarily UTF-8; other bytes that are
/// not UTF-8 become U+FFFD.
pub fn parse(text: &[u8]) -> Vec<MountEntry> {
    text.split(|&b| b == b'\n').filter_map(parse_line).collect()
}

/// One line of the mount table, or `None` for a line with fewer than three fields.
pub fn parse_line(line: &[u8]) -> Option<MountEntry> {
    // Fields are separated by spaces and tabs only (as getmntent(3) splits them): the kernel
    // escapes those, but writes a `\r` or form feed in a name as it is.
    let mut fields = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|f| !f.is_empty());
    let (device, mount_point, fs_type) = (fields.next()?, fields.next()?, fields.next()?);
    let options = fields
        .next()
        .unwrap_or_default()
        .split(|&b| b == b',')
        .filter(|o| !o.is_empty())
        .map(unescape)
        .collect();
    Some(MountEntry {
        device: unescape(device),
        mount_point: unescape(mount_point),
        fs_type: unescape(fs_type),
        options,
    })
}

/// Decodes the octal escapes `\ooo` of a mount-table field, as util-linux does: a backslash
/// and three octal digits whose value is a byte (`\000` to `\377`) become that byte; any
/// other backslash (`\x`, `\04` at the end, `\400`, `\999`) is left as it is.
pub fn unescape(field: impl AsRef<[u8]>) -> String {
    let bytes = field.as_ref();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match octal_byte(&bytes[i..]) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// The byte of an escape `\ooo` at the start of `rest`, if there is one.
fn octal_byte(rest: &[u8]) -> Option<u8> {
    let [b'\\', a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] = *rest else {
        return None;
    };
    Some((a - b'0') * 64 + (b - b'0') * 8 + (c - b'0'))
}

/// The kernel's escaping of a field (`mangle` in `fs/proc_namespace.c`): space, tab, newline
/// and backslash as `\040`, `\011`, `\012`, `\134`. [`unescape`] undoes it.
pub fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_escapes_are_decoded() {
        assert_eq!(unescape(r"/mnt/my\040disk"), "/mnt/my disk");
        assert_eq!(unescape(r"a\134b\011c\012d"), "a\\b\tc\nd");
        assert_eq!(unescape(r"\134\134"), r"\\");
        assert_eq!(unescape(r"\043x"), "#x");
        assert_eq!(unescape(r"\000"), "\0");
        // Decoded once: an escaped backslash followed by digits stays a backslash and digits.
        assert_eq!(unescape(r"\134011"), r"\011");
    }

    #[test]
    fn other_backslashes_are_left_as_they_are() {
        for kept in [
            r"a\x", r"end\04", r"end\0", r"end\", r"no\999", r"\400", r"\777", r"\08a", r"\\",
        ] {
            assert_eq!(unescape(kept), kept);
        }
        assert_eq!(unescape(""), "");
    }

    #[test]
    fn bytes_that_are_not_utf8() {
        // A Latin-1 `é` written raw, and one written as an escape.
        assert_eq!(unescape(b"caf\xe9"), "caf\u{fffd}");
        assert_eq!(unescape(r"caf\351"), "caf\u{fffd}");
        assert_eq!(unescape(r"caf\303\251"), "café");
    }

    #[test]
    fn escape_is_undone_by_unescape() {
        for s in ["", "plain", "a b\tc\nd\\e", "\\040", "ünï cödé \\\\"] {
            assert_eq!(unescape(escape(s)), s);
        }
        assert_eq!(escape("My Disk"), r"My\040Disk");
    }

    #[test]
    fn lines() {
        let table = b"/dev/sda2 /media/My\\040Disk ext4 rw,nosuid,,relatime 0 0\n\
            tmpfs\t/run  tmpfs   rw\n\
            short line\n\
            \n   \n\
            none /x none\n\
            server:/export /mnt/tab\\011and\\134slash nfs4 rw,vers=4.2 0 0 trailing words   ";
        let mounts = parse(table);
        assert_eq!(mounts.len(), 4);
        assert_eq!(
            mounts[0],
            MountEntry {
                device: "/dev/sda2".into(),
                mount_point: "/media/My Disk".into(),
                fs_type: "ext4".into(),
                options: vec!["rw".into(), "nosuid".into(), "relatime".into()],
            }
        );
        assert_eq!(mounts[1].mount_point, "/run");
        assert_eq!(mounts[1].options, ["rw"]);
        assert_eq!(mounts[2].options, Vec::<String>::new());
        assert_eq!(mounts[3].mount_point, "/mnt/tab\tand\\slash");
        assert_eq!(mounts[3].options, ["rw", "vers=4.2"]);
        assert_eq!(parse_line(b"a b"), None);
        // A carriage return or form feed is part of a name, not a separator.
        let odd = parse_line(b"/dev/x /mnt/a\rb\x0cc ext4 rw").unwrap();
        assert_eq!(odd.mount_point, "/mnt/a\rb\x0cc");
    }

    #[test]
    fn the_real_table_parses() {
        let text = std::fs::read("/proc/self/mounts").unwrap();
        let mounts = parse(&text);
        assert!(mounts.iter().any(|m| m.mount_point == "/"), "{mounts:?}");
        assert!(mounts.iter().all(|m| !m.options.is_empty()));
    }
}
