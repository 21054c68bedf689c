//! Typed access to a plugin's options and to the host facts nodus passes (`interval`,
//! `types_db`), so plugins parse `true`/`10`/`1.5` the same way and fail with the same message;
//! and builders that give tests a context with options and host facts.

use std::str::FromStr;

use crate::abi::{ConfigEntry, InitContext, PluginError};
use crate::types_db::TypesDb;

impl InitContext {
    /// This context with the options `key value` of `pairs` appended, in order (keys may
    /// repeat, as in a collectd `<Plugin>` block). For tests; the agent builds the context
    /// from its configuration.
    ///
    /// ```
    /// # use std::path::Path;
    /// # use plugin_api::InitContext;
    /// let ctx = InitContext::rooted_at(Path::new("testdata/basic"))
    ///     .with_options(&[("Interface", "eth0"), ("Interface", "lo")]);
    /// assert_eq!(ctx.options("interface").collect::<Vec<_>>(), ["eth0", "lo"]);
    /// ```
    pub fn with_options(mut self, pairs: &[(&str, &str)]) -> Self {
        self.options
            .extend(pairs.iter().map(|(key, value)| entry(key, value)));
        self
    }

    /// This context with the host fact `key` set to `value` (appended: it replaces an earlier
    /// fact of that key, see [`InitContext::host_fact`]). For tests, e.g. `types_db`,
    /// `hostname` or `proc_root`.
    ///
    /// ```
    /// # use plugin_api::InitContext;
    /// let ctx = InitContext::default().with_host_fact("hostname", "web1");
    /// assert_eq!(ctx.host_fact("hostname"), Some("web1"));
    /// ```
    pub fn with_host_fact(mut self, key: &str, value: &str) -> Self {
        self.host.push(entry(key, value));
        self
    }

    /// Option `key` parsed as `T`; `Ok(None)` when absent, "Invalid params" when malformed.
    pub fn option_parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, PluginError> {
        match self.option(key) {
            None => Ok(None),
            Some(text) => text.trim().parse().map(Some).map_err(|_| {
                PluginError::invalid_params(format!("option {key} = `{text}` is not a valid value"))
            }),
        }
    }

    /// Option `key` as a boolean (`true/false`, `yes/no`, `on/off`, `1/0`), or `default`.
    pub fn option_bool(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        match self.option(key) {
            None => Ok(default),
            Some(v) => crate::schema::parse_bool(v).ok_or_else(|| {
                PluginError::invalid_params(format!("option {key} = `{v}` is not a boolean"))
            }),
        }
    }

    /// The plugin's collection interval in seconds (host fact `interval`; 10 when not given).
    pub fn interval(&self) -> f64 {
        self.host_fact("interval")
            .and_then(|v| v.parse().ok())
            .unwrap_or(10.0)
    }

    /// The types.db files the agent uses (host fact `types_db`, paths separated by `:`), loaded.
    pub fn types_db(&self) -> Result<TypesDb, PluginError> {
        let paths: Vec<&str> = self
            .host_fact("types_db")
            .unwrap_or("")
            .split(':')
            .filter(|p| !p.is_empty())
            .collect();
        if paths.is_empty() {
            return Err(PluginError::failed(
                "the agent passed no types_db host fact",
            ));
        }
        TypesDb::load(&paths).map_err(PluginError::failed)
    }
}

fn entry(key: &str, value: &str) -> ConfigEntry {
    ConfigEntry {
        key: key.into(),
        value: value.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::abi::InitContext;

    #[test]
    fn builders_append_options_and_host_facts() {
        let c = InitContext::rooted_at(Path::new("/case"))
            .with_options(&[("Disk", "sda"), ("disk", "sdb")])
            .with_options(&[("IgnoreSelected", "true")])
            .with_host_fact("hostname", "web1")
            .with_host_fact("proc_root", "/elsewhere/proc");
        assert_eq!(c.options("DISK").collect::<Vec<_>>(), ["sda", "sdb"]);
        assert_eq!(c.options.len(), 3);
        assert_eq!(c.option("IgnoreSelected"), Some("true"));
        assert_eq!(c.host_fact("hostname"), Some("web1"));
        // The later fact wins; rooted_at's other roots stay.
        assert_eq!(c.proc_root(), Path::new("/elsewhere/proc"));
        assert_eq!(c.sys_root(), Path::new("/case/sys"));
        assert_eq!(c.host.len(), 5);
        let empty = InitContext::default().with_options(&[]);
        assert!(empty.options.is_empty() && empty.host.is_empty());
    }

    #[test]
    fn parses_typed_options() {
        let c = InitContext::default()
            .with_options(&[("Port", "9103"), ("Store", "yes"), ("Bad", "maybe")])
            .with_host_fact("interval", "2.5");
        assert_eq!(c.option_parse::<u16>("port").unwrap(), Some(9103));
        assert_eq!(c.option_parse::<u16>("missing").unwrap(), None);
        assert_eq!(
            c.option_parse::<u8>("port").unwrap_err().code,
            crate::codes::INVALID_PARAMS
        );
        assert!(c.option_bool("store", false).unwrap());
        assert!(!c.option_bool("absent", false).unwrap());
        assert!(c.option_bool("bad", false).is_err());
        assert_eq!(c.interval(), 2.5);
    }

    #[test]
    fn loads_types_db_from_host_fact() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../types.db");
        let c = InitContext::default().with_host_fact("types_db", path);
        assert!(c.types_db().unwrap().get("load").is_some());
        assert!(InitContext::default().types_db().is_err());
    }
}
