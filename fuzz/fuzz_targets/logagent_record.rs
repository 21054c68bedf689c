//! Fuzzes logagent's record assembly (bytes of a log file into records, with a multiline rule
//! and a small `max_record_bytes`), fed in pieces cut where the input says: records are
//! contiguous, none is longer than the limit, and kept + dropped bytes account for every byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logagent::record::{Assembler, Multiline};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, bytes)) = data.split_first() else {
        return;
    };
    let rule = Multiline::Start(regex::Regex::new(r"^\S").unwrap());
    let mut assembler = Assembler::new(64, Some(rule), 0);
    let mut out = Vec::new();
    let step = usize::from(cut).max(1);
    for piece in bytes.chunks(step) {
        assembler.feed(piece, &mut out);
    }
    assembler.finish(&mut out);
    let mut at = 0;
    for record in &out {
        assert_eq!(record.offset, at);
        assert!(record.end > record.offset);
        assert!(record.text.len() <= 64);
        at = record.end;
    }
    assert_eq!(at, bytes.len() as u64);
});
