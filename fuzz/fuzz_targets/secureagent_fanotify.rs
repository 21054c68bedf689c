//! Fuzzes secureagent's parser of fanotify event records (what one `read` of the descriptor
//! gives in `FAN_REPORT_DFID_NAME` mode): it never panics, and every handle it returns lies
//! within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secureagent::realtime::fanotify::parse;

fuzz_target!(|data: &[u8]| {
    let (events, _fds) = parse(data);
    for event in events {
        assert!(event.handle.len() <= data.len());
        assert!(event.name.map_or(0, |n| n.len()) <= data.len());
    }
});
