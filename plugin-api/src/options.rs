//! Typed access to a plugin's options and to the host facts nodus passes (`interval`,
//! `types_db`), so plugins parse `true`/`10`/`1.5` the same way and fail with the same message.

use std::str::FromStr;

use crate::abi::{InitContext, PluginError};
use crate::types_db::TypesDb;

impl InitContext {
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
        match self.option(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) => match v.as_str() {
                "true" | "yes" | "on" | "1" => Ok(true),
                "false" | "no" | "off" | "0" => Ok(false),
                _ => Err(PluginError::invalid_params(format!(
                    "option {key} = `{v}` is not a boolean"
                ))),
            },
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

#[cfg(test)]
mod tests {
    use crate::ConfigEntry;
    use crate::abi::InitContext;

    fn ctx(options: &[(&str, &str)], host: &[(&str, &str)]) -> InitContext {
        let entries = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ConfigEntry {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect()
        };
        InitContext {
            options: entries(options),
            host: entries(host),
        }
    }

    #[test]
    fn parses_typed_options() {
        let c = ctx(
            &[("Port", "9103"), ("Store", "yes"), ("Bad", "maybe")],
            &[("interval", "2.5")],
        );
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
        let c = ctx(&[], &[("types_db", path)]);
        assert!(c.types_db().unwrap().get("load").is_some());
        assert!(ctx(&[], &[]).types_db().is_err());
    }
}
