//! `nodus -T`: run every configured read plugin instance once, through the same dispatcher
//! checks as the daemon, and print one line per instance in the seed's format:
//! `<time>/<interval> <plugin>(<values collected>/<values in types.db>) <v1>/<T1> ...`.
//! Write plugins are not called.

use std::fmt::Write as _;

use plugin_api::{Roles, Value, ValueList};
use plugin_host::LoadedPlugin;

use crate::config::Config;
use crate::dispatch::{Dispatcher, now};
use crate::plugins;

/// One line of `-T` output, or the reason the plugin's read failed.
pub fn read_line(
    config: &Config,
    dispatcher: &Dispatcher,
    plugin: &LoadedPlugin,
    name: &str,
) -> Result<String, String> {
    let wrong = plugins::check_options(config, plugin, name);
    if !wrong.is_empty() {
        return Err(wrong.join("; "));
    }
    let instance = plugin
        .instantiate(name, &plugins::context(config, name, dispatcher.hostname()))
        .map_err(|e| format!("init failed: {}", e.message))?;
    let time = now();
    let interval = config.interval_of(name);
    let result = instance.read();
    let _ = instance.shutdown();
    let mut lists = result.map_err(|e| format!("read-function failed: {}", e.message))?;
    dispatcher.stamp(&mut lists, time, interval);
    let collected: usize = lists.iter().map(|vl| vl.values.len()).sum();
    let expected: usize = lists
        .iter()
        .map(|vl| {
            dispatcher
                .types_db()
                .get(&vl.type_)
                .map_or(0, |set| set.len())
        })
        .sum();
    let accepted = dispatcher.check(name, lists);
    Ok(format_line(
        time, interval, name, collected, expected, &accepted,
    ))
}

/// Formats one `-T` line.
pub fn format_line(
    time: f64,
    interval: f64,
    plugin: &str,
    collected: usize,
    expected: usize,
    lists: &[ValueList],
) -> String {
    let mut line = format!("{time:.3}/{interval:.3} {plugin}({collected}/{expected})");
    for value in lists.iter().flat_map(|vl| vl.values.iter()) {
        let letter = value.ds_type().letter();
        let _ = match value {
            Value::Gauge(v) => write!(line, " {v:.2}/{letter}"),
            Value::Derive(v) => write!(line, " {v}/{letter}"),
            Value::Counter(v) | Value::Absolute(v) => write!(line, " {v}/{letter}"),
        };
    }
    line
}

/// Runs `-T`: prints a line per read plugin instance (and errors on stderr); true when all
/// succeeded.
pub fn run(config: &Config, dispatcher: &Dispatcher, loaded: &plugins::Loaded) -> bool {
    let mut all_ok = loaded.failed.is_empty();
    for failed in &loaded.failed {
        eprintln!("{}: {failed}", failed.plugin);
    }
    for instance in config.instances() {
        let Some(plugin) = loaded.registry.get(instance.plugin) else {
            continue;
        };
        if !plugin.has_role(Roles::READ) {
            continue;
        }
        match read_line(config, dispatcher, plugin, instance.id) {
            Ok(line) => println!("{line}"),
            Err(reason) => {
                all_ok = false;
                tracing::error!(plugin = %instance.id, "{reason}");
                eprintln!("{}: {reason}", instance.id);
            }
        }
    }
    all_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_seed_example() {
        let load = ValueList::new(
            "load",
            "load",
            vec![Value::Gauge(2.71), Value::Gauge(2.53), Value::Gauge(2.43)],
        );
        let line = format_line(1511965574.11, 10.0, "load", 3, 3, &[load]);
        assert_eq!(line, "1511965574.110/10.000 load(3/3) 2.71/G 2.53/G 2.43/G");
        let cpu = ValueList::new("cpu", "cpu", vec![Value::Derive(123)]);
        assert_eq!(
            format_line(1.0, 1.0, "cpu", 1, 1, &[cpu]),
            "1.000/1.000 cpu(1/1) 123/D"
        );
    }
}
