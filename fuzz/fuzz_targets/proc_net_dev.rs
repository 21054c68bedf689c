//! Fuzzes the `/proc/net/dev` parser (procparse; plugins `interface` and `network`): parsing
//! never panics, there is one result per line with a `:`, names are trimmed and hold no `:`,
//! and an interface written back (padded, or with its name touching the first counter)
//! parses to the same name and 16 counters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use procparse::net_dev;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let results: Vec<_> = net_dev::parse(text).collect();
    assert_eq!(
        results.len(),
        text.lines().filter(|l| l.contains(':')).count()
    );
    let lenient: Vec<_> = net_dev::parse_lenient(text).collect();
    assert_eq!(lenient.len(), results.iter().filter(|r| r.is_ok()).count());
    for result in results {
        let iface = match result {
            Ok(iface) => iface,
            Err(e) => {
                assert!(!e.to_string().is_empty());
                continue;
            }
        };
        assert!(!iface.name.is_empty() && !iface.name.contains(':'));
        assert_eq!(iface.name.trim(), iface.name);
        let columns: Vec<String> = iface
            .counters
            .columns()
            .iter()
            .map(u64::to_string)
            .collect();
        let columns = columns.join(" ");
        for line in [
            format!("{:>6}: {columns}\n", iface.name),
            format!("{}:{columns}", iface.name),
        ] {
            let again: Vec<_> = net_dev::parse(&line).collect();
            assert_eq!(again, [Ok(iface)], "{line:?}");
        }
    }
});
