//! Fuzzes nodus's configuration parser (`nodus::config`): `Config::load` on the input written
//! to a temp file. Never a panic, and every accepted config answers its per-instance questions
//! with sane values.
#![no_main]

use std::io::Write as _;

use nodus::config;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(data).expect("write");
    file.flush().expect("flush");
    let Ok(config) = config::Config::load(file.path()) else {
        return;
    };
    assert!(config.interval.is_finite() && config.interval > 0.0);
    for instance in config.instances() {
        let name = instance.id;
        let interval = config.interval_of(name);
        assert!(interval.is_finite() && interval > 0.0, "{name}: {interval}");
        let timeout = config.timeout_of(name);
        assert!(timeout.is_finite() && timeout > 0.0, "{name}: {timeout}");
        let _ = config.options_of(name);
    }
    let _ = config.types_db_paths();
});
