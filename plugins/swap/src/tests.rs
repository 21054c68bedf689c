use super::*;
use plugin_api::types_db::TypesDb;

fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Swap, PluginError> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(case);
    Swap::init(&InitContext::rooted_at(&base).with_options(options))
}

fn read(case: &str, options: &[(&str, &str)]) -> Vec<ValueList> {
    let lists = fixture(case, options).unwrap().read().unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    db.check_all(&lists).unwrap();
    lists
}

fn pairs(lists: &[ValueList]) -> Vec<(String, f64)> {
    lists
        .iter()
        .map(|vl| (vl.identifier(), vl.values[0].as_f64()))
        .collect()
}

fn kib(v: u64) -> f64 {
    (v * 1024) as f64
}

#[test]
fn combined_usage_and_io() {
    let lists = read("basic", &[]);
    assert_eq!(
        pairs(&lists),
        [
            ("swap/swap-used".into(), kib(2_097_148 - 1_572_860 - 10_240)),
            ("swap/swap-free".into(), kib(1_572_860)),
            ("swap/swap-cached".into(), kib(10_240)),
            ("swap/swap_io-in".into(), 4711.0),
            ("swap/swap_io-out".into(), 9876.0),
        ]
    );
    assert!(matches!(lists[3].values[0], Value::Derive(4711)));
}

#[test]
fn percentages_sum_to_100() {
    let lists = read(
        "basic",
        &[
            ("ValuesAbsolute", "false"),
            ("ValuesPercentage", "true"),
            ("ReportIO", "false"),
        ],
    );
    let got = pairs(&lists);
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].0, "swap/percent-used");
    assert_eq!(got[2].0, "swap/percent-cached");
    let total = kib(2_097_148);
    assert!((got[1].1 - kib(1_572_860) * 100.0 / total).abs() < 1e-9);
    assert!((got.iter().map(|(_, v)| v).sum::<f64>() - 100.0).abs() < 1e-9);
}

#[test]
fn report_bytes_multiplies_pages() {
    let page = page_size().unwrap();
    let lists = read("basic", &[("ReportBytes", "true")]);
    assert_eq!(lists[3].values[0], Value::Derive(4711 * page));
    assert_eq!(lists[4].values[0], Value::Derive(9876 * page));
}

#[test]
fn by_device() {
    let lists = read("basic", &[("ReportByDevice", "true"), ("ReportIO", "no")]);
    assert_eq!(
        pairs(&lists),
        [
            ("swap-dev_dm-1/swap-used".into(), kib(262_144)),
            ("swap-dev_dm-1/swap-free".into(), kib(1_048_572 - 262_144)),
            ("swap-swapfile/swap-used".into(), kib(262_144)),
            ("swap-swapfile/swap-free".into(), kib(1_048_576 - 262_144)),
        ]
    );
    assert_eq!(escape_slashes("/"), "root");
    assert_eq!(escape_slashes("/var/swap/file"), "var_swap_file");
}

#[test]
fn no_swap_configured() {
    let lists = read("noswap", &[("ValuesPercentage", "true")]);
    let got = pairs(&lists);
    assert_eq!(got[0], ("swap/swap-used".into(), 0.0));
    assert_eq!(got[3].0, "swap/percent-used");
    // 0 of 0: unknown, as collectd reports it.
    assert!(got[3].1.is_nan());
    assert_eq!(got[6], ("swap/swap_io-in".into(), 0.0));
    assert!(read("noswap", &[("ReportByDevice", "1"), ("ReportIO", "0")]).is_empty());
}

#[test]
fn openvz_without_swap_cached_or_pswpin() {
    let got = pairs(&read("openvz", &[]));
    assert_eq!(
        got,
        [
            ("swap/swap-used".into(), kib(131_072)),
            ("swap/swap-free".into(), kib(131_072)),
        ]
    );
}

#[test]
fn errors() {
    let err = fixture("basic", &[("ValuesPercentage", "perhaps")])
        .err()
        .unwrap();
    assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
    let err = fixture("nowhere", &[]).unwrap().read().unwrap_err();
    assert_eq!(err.code, plugin_api::codes::FAILED);
    assert!(
        err.message.contains("nowhere/proc/meminfo"),
        "{}",
        err.message
    );
    let err = fixture("openvz", &[("ReportByDevice", "true")])
        .unwrap()
        .read()
        .unwrap_err();
    assert!(err.message.contains("swaps"), "{}", err.message);
    assert!(parse_meminfo("MemTotal: 1 kB\n").is_err());
    assert!(parse_meminfo("SwapTotal: 1 kB\nSwapFree: 2 kB\n").is_err());
    // Values near 2^64 bytes are refused, not summed into an overflow.
    let huge = u64::MAX / 1024;
    let text = format!("SwapTotal: {huge} kB\nSwapFree: {huge} kB\nSwapCached: {huge} kB\n");
    let err = parse_meminfo(&text).unwrap_err();
    assert!(err.contains("exceed"), "{err}");
    let err = parse_meminfo("SwapTotal: 1 kB\nSwapFree: x kB\n").unwrap_err();
    assert_eq!(err, "bad value `x` for `SwapFree`");
}

#[test]
fn the_real_system_passes_types_db() {
    let ctx = InitContext::rooted_at(Path::new("/"));
    let mut plugin = Swap::init(&ctx).unwrap();
    let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
    for _ in 0..2 {
        let lists = plugin.read().unwrap();
        db.check_all(&lists).unwrap();
        assert!(lists.iter().any(|vl| vl.type_ == "swap"), "{lists:?}");
    }
}
