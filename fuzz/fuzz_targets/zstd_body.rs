//! Fuzzes the decoding of a compressed agent body (`Content-Encoding: zstd`, as logagent
//! sends its batches): `unzstd` with a limit. Never a panic, never more than the limit
//! decoded; a body it refuses is 400 (not zstd, or a window over 8 MiB) or 413 (over the limit).
#![no_main]

use libfuzzer_sys::fuzz_target;
use polaris::error::unzstd;

/// Small, so that the fuzzer's bombs stay cheap; the route's is 32 MiB.
const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    match unzstd(data, LIMIT) {
        Ok(text) => assert!(text.len() <= LIMIT),
        Err(e) => assert!(
            [400, 413].contains(&e.status.as_u16()),
            "{} for a bad body",
            e.status
        ),
    }
});
