//! Fuzzes secureagent's baseline line decoder (the database on disk, which anyone with root
//! may have altered): decoding never panics, and a decoded entry encodes to a line that
//! decodes to the same entry.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secureagent::db::{decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(entry) = decode(line) {
        let again = encode(&entry);
        assert!(!again.contains('\n'));
        assert_eq!(decode(&again).as_ref(), Ok(&entry), "{again}");
    }
});
