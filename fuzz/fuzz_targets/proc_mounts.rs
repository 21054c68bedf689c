//! Fuzzes the mount-table parser and its unescaping (procparse; plugins `df` and `disks`):
//! parsing never panics, no field is empty, and an entry written back with the kernel's
//! escapes (plus `\054` for a comma inside an option) parses to the same entry; escaping
//! any text and unescaping it gives the text back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procparse::mounts::{self, MountEntry};

fn line_of(entry: &MountEntry) -> String {
    let mut line = [&entry.device, &entry.mount_point, &entry.fs_type]
        .map(|f| mounts::escape(f))
        .join(" ");
    if !entry.options.is_empty() {
        let options: Vec<String> = entry
            .options
            .iter()
            .map(|o| mounts::escape(o).replace(',', "\\054"))
            .collect();
        line = format!("{line} {} 0 0", options.join(","));
    }
    line
}

fuzz_target!(|data: &[u8]| {
    for entry in mounts::parse(data) {
        assert!(!entry.device.is_empty() && !entry.mount_point.is_empty());
        assert!(!entry.fs_type.is_empty() && entry.options.iter().all(|o| !o.is_empty()));
        let line = line_of(&entry);
        let again = mounts::parse_line(line.as_bytes());
        assert_eq!(again.as_ref(), Some(&entry), "{line:?}");
    }
    let text = String::from_utf8_lossy(data);
    assert_eq!(mounts::unescape(mounts::escape(&text)), text);
});
