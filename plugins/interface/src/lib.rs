//! `interface` read plugin: bytes, packets, errors and drops of each network interface, as collectd's interface plugin.
//! Files read: `/proc/net/dev`.

use std::fs;
use std::path::PathBuf;

use plugin_api::{InitContext, Plugin, PluginError, ReadPlugin, Selection, Value, ValueList};

/// The plugin instance: where `/proc` is and which interfaces to report.
pub struct Interface {
    proc_root: PathBuf,
    select: Selection,
    report_inactive: bool,
}

impl Plugin for Interface {
    const NAME: &'static str = "interface";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "network interface counters (/proc/net/dev)";
    const CONFIG_KEYS: &'static [&'static str] = &["Interface", "IgnoreSelected", "ReportInactive"];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Interface {
            proc_root: ctx.proc_root(),
            select: Selection::from_options(ctx, "Interface", "interface name")?,
            report_inactive: ctx.option_bool("ReportInactive", true)?,
        })
    }
}

/// The counters of one `/proc/net/dev` line that collectd reports.
#[derive(Debug, PartialEq)]
struct Counters {
    name: String,
    /// rx, tx pairs: packets, bytes, errors, drops.
    packets: (i64, i64),
    octets: (i64, i64),
    errors: (i64, i64),
    dropped: (i64, i64),
}

impl ReadPlugin for Interface {
    /// Per interface `interface-<if>/if_packets`, `if_octets`, `if_errors`, `if_dropped` (rx, tx).
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("net/dev");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let mut out = Vec::new();
        for c in parse_net_dev(&text) {
            if self.select.ignores(&c.name) {
                continue;
            }
            if !self.report_inactive && c.packets == (0, 0) {
                continue;
            }
            for (type_, (rx, tx)) in [
                ("if_packets", c.packets),
                ("if_octets", c.octets),
                ("if_errors", c.errors),
                ("if_dropped", c.dropped),
            ] {
                out.push(
                    ValueList::new(
                        "interface",
                        type_,
                        vec![Value::Derive(rx), Value::Derive(tx)],
                    )
                    .plugin_instance(&c.name),
                );
            }
        }
        Ok(out)
    }
}

/// Parses `/proc/net/dev`: `name: 8 receive counters, 8 transmit counters`. Lines without a
/// `:` (the two headers) or with fewer than 12 counters are skipped, as collectd does.
fn parse_net_dev(text: &str) -> Vec<Counters> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let fields: Vec<i64> = rest.split_whitespace().map(counter).collect();
        if fields.len() < 12 {
            continue;
        }
        out.push(Counters {
            name: name.to_string(),
            octets: (fields[0], fields[8]),
            packets: (fields[1], fields[9]),
            errors: (fields[2], fields[10]),
            dropped: (fields[3], fields[11]),
        });
    }
    out
}

/// A kernel counter as a DERIVE value: above `i64::MAX` it saturates, garbage reads as 0
/// (collectd's `atoll`).
fn counter(text: &str) -> i64 {
    text.parse::<u64>()
        .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

plugin_api::export_plugin!(Interface, roles: [read]);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::types_db::TypesDb;
    use std::path::Path;

    fn fixture(case: &str, options: &[(&str, &str)]) -> Result<Interface, PluginError> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Interface::init(&InitContext::rooted_at(&base).with_options(options))
    }

    fn read(case: &str, options: &[(&str, &str)]) -> Vec<ValueList> {
        let lists = fixture(case, options).unwrap().read().unwrap();
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        db.check_all(&lists).unwrap();
        lists
    }

    fn derives(vl: &ValueList) -> (i64, i64) {
        match vl.values[..] {
            [Value::Derive(rx), Value::Derive(tx)] => (rx, tx),
            _ => panic!("not two derives: {vl:?}"),
        }
    }

    fn instances(lists: &[ValueList]) -> Vec<String> {
        let mut names: Vec<String> = lists
            .iter()
            .map(|vl| vl.plugin_instance.to_string())
            .collect();
        names.dedup();
        names
    }

    #[test]
    fn every_interface_four_lists() {
        let lists = read("basic", &[]);
        assert_eq!(lists.len(), 16);
        assert_eq!(instances(&lists), ["lo", "eth0", "docker0", "wlp2s0"]);
        let eth0: Vec<(String, (i64, i64))> = lists[4..8]
            .iter()
            .map(|vl| (vl.identifier(), derives(vl)))
            .collect();
        assert_eq!(
            eth0,
            [
                ("interface-eth0/if_packets".into(), (7_654_321, 987_654)),
                (
                    "interface-eth0/if_octets".into(),
                    (9_876_543_210, 123_456_789)
                ),
                ("interface-eth0/if_errors".into(), (3, 1)),
                ("interface-eth0/if_dropped".into(), (12, 2)),
            ]
        );
        // A counter beyond i64 saturates instead of wrapping negative.
        assert_eq!(derives(&lists[13]), (i64::MAX, 42));
    }

    #[test]
    fn selection_and_inactive() {
        let lists = read("basic", &[("Interface", "eth0"), ("interface", "lo")]);
        assert_eq!(instances(&lists), ["lo", "eth0"]);
        let lists = read("basic", &[("Interface", "lo"), ("IgnoreSelected", "true")]);
        assert_eq!(instances(&lists), ["eth0", "docker0", "wlp2s0"]);
        let lists = read("basic", &[("ReportInactive", "false")]);
        assert_eq!(instances(&lists), ["lo", "eth0", "wlp2s0"]);
        // IgnoreSelected without names ignores nothing, as in collectd.
        assert_eq!(read("basic", &[("IgnoreSelected", "true")]).len(), 16);
    }

    #[test]
    fn errors() {
        for bad in ["/^eth/", ""] {
            let err = fixture("basic", &[("Interface", bad)]).err().unwrap();
            assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS, "{bad}");
        }
        let err = fixture("basic", &[("ReportInactive", "2")]).err().unwrap();
        assert_eq!(err.code, plugin_api::codes::INVALID_PARAMS);
        let err = fixture("nowhere", &[]).unwrap().read().unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(
            err.message.contains("nowhere/proc/net/dev"),
            "{}",
            err.message
        );
        // Short lines are skipped, not misread.
        assert!(read("garbage", &[]).is_empty());
    }

    #[test]
    fn the_real_system_passes_types_db() {
        let Ok(mut plugin) = Interface::init(&InitContext::rooted_at(Path::new("/"))) else {
            panic!("init with no options failed");
        };
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        for _ in 0..2 {
            let lists = plugin.read().unwrap();
            db.check_all(&lists).unwrap();
            assert!(
                lists.iter().any(|vl| vl.plugin_instance == "lo"),
                "{lists:?}"
            );
        }
    }
}
