//! `uptime` read plugin: whole seconds since boot, as collectd's uptime plugin reports them.
//! Files read: `/proc/uptime`.

use std::fs;
use std::path::PathBuf;

use plugin_api::{InitContext, Plugin, PluginError, ReadPlugin, Value, ValueList};

/// The plugin instance: where `/proc` is.
pub struct Uptime {
    proc_root: PathBuf,
}

impl Plugin for Uptime {
    const NAME: &'static str = "uptime";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "seconds since boot (/proc/uptime)";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Uptime {
            proc_root: ctx.proc_root(),
        })
    }
}

impl ReadPlugin for Uptime {
    /// One list `uptime/uptime`: the first field of `/proc/uptime`, cut to whole seconds
    /// (collectd reports an integral number of seconds).
    fn read(&mut self) -> Result<Vec<ValueList>, PluginError> {
        let path = self.proc_root.join("uptime");
        let text = fs::read_to_string(&path)
            .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))?;
        let seconds = parse_uptime(&text)
            .ok_or_else(|| PluginError::failed(format!("cannot parse {}", path.display())))?;
        Ok(vec![ValueList::new(
            "uptime",
            "uptime",
            vec![Value::Gauge(seconds)],
        )])
    }
}

/// The first field of `/proc/uptime` (seconds with two decimals), truncated.
fn parse_uptime(text: &str) -> Option<f64> {
    let seconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| seconds.trunc())
}

plugin_api::export_plugin!(Uptime, roles: [read]);

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_api::types_db::TypesDb;
    use std::path::Path;

    fn fixture(case: &str) -> Uptime {
        let base = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("testdata")
            .join(case);
        Uptime::init(&InitContext::rooted_at(&base)).unwrap()
    }

    #[test]
    fn reports_whole_seconds() {
        let lists = fixture("basic").read().unwrap();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].identifier(), "uptime/uptime");
        assert_eq!(lists[0].values.as_slice(), [Value::Gauge(350_735.0)]);
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        db.check(&lists[0]).unwrap();
    }

    #[test]
    fn errors() {
        let err = fixture("garbage").read().unwrap_err();
        assert_eq!(err.code, plugin_api::codes::FAILED);
        assert!(err.message.contains("uptime"), "{}", err.message);
        let err = fixture("nowhere").read().unwrap_err();
        assert!(
            err.message.contains("nowhere/proc/uptime"),
            "{}",
            err.message
        );
        assert_eq!(parse_uptime("-1 0"), None);
        assert_eq!(parse_uptime(""), None);
    }

    #[test]
    fn the_real_system_passes_types_db() {
        let Ok(mut plugin) = Uptime::init(&InitContext::rooted_at(Path::new("/"))) else {
            panic!("init with no options failed");
        };
        let db = TypesDb::load_nearest(env!("CARGO_MANIFEST_DIR")).unwrap();
        for _ in 0..2 {
            let lists = plugin.read().unwrap();
            db.check_all(&lists).unwrap();
            assert!(lists[0].values[0].as_f64() > 0.0);
        }
    }
}
