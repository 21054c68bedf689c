//! Fuzzes the `/proc/<pid>/stat` parser (procparse; supervise's process identity, liveness
//! and tree measure): parsing never panics, and a parsed line written back as the kernel
//! writes it (the command name in parentheses, whatever it holds) parses to the same fields.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procparse::stat::{self, Stat};

fn line_of(s: &Stat) -> String {
    format!(
        "{} ({}) {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} 0 0 0\n",
        s.pid,
        s.comm,
        s.state,
        s.ppid,
        s.pgrp,
        s.session,
        s.tty_nr,
        s.tpgid,
        s.flags,
        s.minflt,
        s.cminflt,
        s.majflt,
        s.cmajflt,
        s.utime,
        s.stime,
        s.cutime,
        s.cstime,
        s.priority,
        s.nice,
        s.num_threads,
        s.itrealvalue,
        s.starttime,
        s.vsize,
        s.rss
    )
}

fuzz_target!(|data: &[u8]| {
    let parsed = match stat::parse(data) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    assert!(parsed.state.is_ascii_alphabetic(), "{:?}", parsed.state);
    let line = line_of(&parsed);
    assert_eq!(stat::parse(line.as_bytes()), Ok(parsed), "{line:?}");
});
