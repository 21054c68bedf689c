//! What was changed through the control socket and must outlive a restart of nodus: the
//! plugins installed there that the configuration file does not name, and the options set for
//! an instance (`instance_configure`), which replace the file's options of that instance.
//!
//! Kept in `<state_dir>/managed.json` (default `/var/lib/cargo/nodus/state/managed.json`),
//! written whole to a temporary file and renamed into place, folder `0700`, file `0600`: the
//! options may hold secrets. `Config::apply` lays it over the configuration, in the daemon, in
//! `-t` and in `-T` alike. Option values arrive as JSON and leave as the `(key, value)` strings
//! plugins receive; both ways are bounded here.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wire::plugins::{NAME_MAX, OPTIONS_MAX};

use crate::config::Config;

/// The file's name inside `state_dir`.
pub const FILE_NAME: &str = "managed.json";
/// The longest option value accepted through the socket.
pub const VALUE_MAX: usize = 4096;
/// The most values one repeated option may be given through the socket.
pub const VALUES_MAX: usize = 64;
/// The largest `managed.json` read back.
const FILE_MAX: u64 = 4 * 1024 * 1024;

/// The contents of `managed.json`.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Managed {
    /// Plugins installed through the socket (`plugin_install`) that the configuration file
    /// does not name: loaded at start as if it had `[plugin.<name>]`.
    #[serde(default)]
    pub plugins: BTreeSet<String>,
    /// Options set through the socket, by instance (`http/primary`, `cpu`): the whole option
    /// set of that instance, as given (`{"URL": "...", "Header": ["A: b"]}`).
    #[serde(default)]
    pub options: BTreeMap<String, Map<String, Value>>,
}

/// Where `config` keeps its `managed.json`.
pub fn file(config: &Config) -> PathBuf {
    config.state_dir.join(FILE_NAME)
}

impl Managed {
    /// Reads `path`; a missing file is an empty state, anything unreadable or invalid an
    /// error naming the file.
    pub fn load(path: &Path) -> Result<Managed, String> {
        let text = match std::fs::File::open(path) {
            Ok(file) => {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut std::io::Read::take(file, FILE_MAX + 1),
                    &mut text,
                )
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                text
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Managed::default()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        if text.len() as u64 > FILE_MAX {
            return Err(format!(
                "{} is larger than {FILE_MAX} bytes",
                path.display()
            ));
        }
        let managed: Managed =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (id, options) in &managed.options {
            option_pairs(options).map_err(|e| format!("{}: `{id}`: {e}", path.display()))?;
        }
        // Written by nodus only; narrowed in case someone copied it in wider.
        let _ = agentkit::private::narrow(path, agentkit::private::FILE_MODE);
        Ok(managed)
    }

    /// Writes the whole state to `path`: folder made `0700`, a temporary file `0600` written
    /// and synced, then renamed over the old one (a crash leaves the old or the new, never
    /// half of one).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let why = |e: std::io::Error| format!("cannot save {}: {e}", path.display());
        let folder = path.parent().unwrap_or(Path::new("."));
        agentkit::private::private_dir(folder).map_err(why)?;
        let staged = folder.join(format!(".{FILE_NAME}.new"));
        let text = serde_json::to_vec_pretty(self).map_err(|e| why(e.into()))?;
        let mut file = agentkit::private::create_private(&staged).map_err(why)?;
        file.write_all(&text).map_err(why)?;
        file.sync_all().map_err(why)?;
        drop(file);
        std::fs::rename(&staged, path).map_err(why)?;
        if let Ok(dir) = std::fs::File::open(folder) {
            let _ = dir.sync_all();
        }
        Ok(())
    }
}

/// The `(key, value)` strings an option set given as JSON stands for (an array repeats its
/// key), refused past the bounds: at most `OPTIONS_MAX` options, names of 1 to `NAME_MAX`
/// characters, values of at most `VALUE_MAX` bytes, `VALUES_MAX` values per option, and only
/// strings, numbers and booleans (or arrays of them).
pub fn option_pairs(options: &Map<String, Value>) -> Result<Vec<(String, String)>, String> {
    if options.len() > OPTIONS_MAX {
        return Err(format!("more than {OPTIONS_MAX} options"));
    }
    let mut pairs = Vec::new();
    for (key, value) in options {
        if key.is_empty() || key.len() > NAME_MAX || key.chars().any(char::is_control) {
            return Err(format!(
                "an option name must be 1 to {NAME_MAX} printable characters"
            ));
        }
        let values = match value {
            Value::Array(items) if items.len() > VALUES_MAX => {
                return Err(format!("option {key} has more than {VALUES_MAX} values"));
            }
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "option {key} must be a string, number or boolean, or an array of them"
                    ));
                }
            };
            if text.len() > VALUE_MAX {
                return Err(format!(
                    "a value of option {key} is longer than {VALUE_MAX} bytes"
                ));
            }
            pairs.push((key.clone(), text));
        }
    }
    Ok(pairs)
}

/// An option set given as JSON, as the configuration file's `[plugin.<name>.options]` table
/// would hold it (checked by [`option_pairs`] first).
pub fn toml_options(options: &Map<String, Value>) -> BTreeMap<String, toml::Value> {
    fn scalar(value: &Value) -> toml::Value {
        match value {
            Value::Bool(b) => toml::Value::Boolean(*b),
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => toml::Value::Integer(i),
                (None, Some(f)) => toml::Value::Float(f),
                _ => toml::Value::String(n.to_string()),
            },
            Value::String(s) => toml::Value::String(s.clone()),
            other => toml::Value::String(other.to_string()),
        }
    }
    options
        .iter()
        .map(|(key, value)| {
            let value = match value {
                Value::Array(items) => toml::Value::Array(items.iter().map(scalar).collect()),
                other => scalar(other),
            };
            (key.clone(), value)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn options(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn json_options_become_the_strings_plugins_receive() {
        let given = options(serde_json::json!({
            "URL": "http://a/", "Timeout": 2.5, "BatchSize": 10, "StoreRates": true,
            "Header": ["A: b", "C: d"]}));
        let pairs = option_pairs(&given).unwrap();
        let text: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            text,
            [
                "BatchSize=10",
                "Header=A: b",
                "Header=C: d",
                "StoreRates=true",
                "Timeout=2.5",
                "URL=http://a/"
            ]
        );
        // The same strings come out of the configuration the daemon builds from it.
        let mut config =
            Config::parse("[plugin.http]\n[plugin.http.options]\nURL = \"x\"\n").unwrap();
        let managed = Managed {
            options: [("http".to_string(), given)].into(),
            ..Managed::default()
        };
        assert!(config.apply(&managed).is_empty());
        assert_eq!(config.options_of("http"), pairs);
    }

    #[test]
    fn refuses_what_is_too_big_or_not_a_value() {
        for (bad, why) in [
            (serde_json::json!({"A": {"deep": 1}}), "must be a string"),
            (serde_json::json!({"A": [[1]]}), "must be a string"),
            (serde_json::json!({"A": null}), "must be a string"),
            (serde_json::json!({"": 1}), "option name"),
            (
                serde_json::json!({"A": "x".repeat(VALUE_MAX + 1)}),
                "longer than",
            ),
            (
                serde_json::json!({"A": vec![1; VALUES_MAX + 1]}),
                "more than",
            ),
        ] {
            let error = option_pairs(&options(bad)).unwrap_err();
            assert!(error.contains(why), "{error}");
        }
        let many: Map<String, Value> = (0..=OPTIONS_MAX)
            .map(|i| (format!("K{i}"), Value::from(i)))
            .collect();
        assert!(option_pairs(&many).unwrap_err().contains("more than"));
    }

    #[test]
    fn saved_private_read_back_and_laid_over_the_file() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("state/managed.json");
        assert_eq!(Managed::load(&path).unwrap(), Managed::default());
        let managed = Managed {
            plugins: ["rollout".to_string()].into(),
            options: [
                (
                    "rollout".to_string(),
                    options(serde_json::json!({"Label": "blue"})),
                ),
                ("gone".to_string(), options(serde_json::json!({"A": 1}))),
            ]
            .into(),
        };
        managed.save(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(Managed::load(&path).unwrap(), managed);

        let mut config = Config::parse("[plugin.load]\n").unwrap();
        let notes = config.apply(&managed);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("`gone`"), "{notes:?}");
        assert_eq!(config.plugin_names(), ["load", "rollout"]);
        assert!(config.names_in_file("load") && !config.names_in_file("rollout"));
        assert_eq!(
            config.options_of("rollout"),
            [("Label".to_string(), "blue".to_string())]
        );

        std::fs::write(&path, "{\"plugins\": 3}").unwrap();
        assert!(Managed::load(&path).unwrap_err().contains("managed.json"));
    }
}
