//! `interface` read plugin: bytes, packets, errors and drops of each network interface, as collectd's interface plugin.
//! Files read: `/proc/net/dev`.

use std::fs;
use std::path::PathBuf;

use plugin_api::{
    InitContext, OptionSpec, Plugin, PluginError, ReadPlugin, Selection, Value, ValueList,
};

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
    const OPTIONS: &'static [OptionSpec] = &[
        OptionSpec::string("Interface", "an interface name to report (eth0)").repeated(),
        OptionSpec::boolean(
            "IgnoreSelected",
            "report every interface except the listed ones",
        )
        .default("false"),
        OptionSpec::boolean(
            "ReportInactive",
            "false: skip interfaces that never sent or received a packet",
        )
        .default("true"),
    ];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Interface {
            proc_root: ctx.proc_root(),
            select: Selection::from_options(ctx, "Interface", "interface name")?,
            report_inactive: ctx.option_bool("ReportInactive", true)?,
        })
    }
}

impl ReadPlugin for Interface {
    /// Per interface `interface-<if>/if_packets`, `if_octets`, `if_errors`, `if_dropped` (rx, tx).
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("net/dev");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let mut out = Vec::new();
        // Lines that are not a name and 16 counters are skipped, as collectd skips them.
        for iface in procparse::net_dev::parse_lenient(&text) {
            let c = iface.counters;
            if self.select.ignores(iface.name) {
                continue;
            }
            if !self.report_inactive && (c.rx_packets, c.tx_packets) == (0, 0) {
                continue;
            }
            for (type_, rx, tx) in [
                ("if_packets", c.rx_packets, c.tx_packets),
                ("if_octets", c.rx_bytes, c.tx_bytes),
                ("if_errors", c.rx_errors, c.tx_errors),
                ("if_dropped", c.rx_dropped, c.tx_dropped),
            ] {
                let values = vec![Value::Derive(derive(rx)), Value::Derive(derive(tx))];
                out.push(ValueList::new("interface", type_, values).plugin_instance(iface.name));
            }
        }
        Ok(out)
    }
}

/// A kernel counter as a DERIVE value: above `i64::MAX` it saturates instead of wrapping
/// negative.
fn derive(counter: u64) -> i64 {
    i64::try_from(counter).unwrap_or(i64::MAX)
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
