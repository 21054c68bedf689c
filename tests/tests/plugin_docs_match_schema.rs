//! Every built-in plugin's documentation agrees with the option schema its `.so` reports
//! (plugin-api 2.0), so README tables and sample configs cannot drift from the code; and every
//! plugin keeps one name from crate to file (`plugins/<name>`, crate `plugin-<name>`, library
//! `plugin_<name>`, built `libplugin_<name>.so`, plugin `NAME` `<name>`).

use std::collections::BTreeMap;

use plugin_api::OptionSchema;

/// `(type, default)` cells of a README's `| Option | Type | Default | Meaning |` table, by name.
fn readme_table(readme: &str) -> BTreeMap<String, (String, String)> {
    let mut rows = BTreeMap::new();
    let mut in_table = false;
    for line in readme.lines() {
        if line.starts_with("| Option | Type | Default | Meaning |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|--") {
            continue;
        }
        if !line.starts_with('|') {
            in_table = false;
            continue;
        }
        let cells: Vec<&str> = line.split(" | ").collect();
        let name = cells[0].trim_start_matches("| ").trim_matches('`');
        rows.insert(
            name.to_string(),
            (cells[1].trim().to_string(), cells[2].trim().to_string()),
        );
    }
    rows
}

/// How the README writes an option's type: `string`, `string, repeated`, `choice of `JSON``.
fn type_cell(option: &OptionSchema) -> String {
    let mut cell = option.kind.name().to_string();
    if !option.choices.is_empty() {
        let choices: Vec<String> = option.choices.iter().map(|c| format!("`{c}`")).collect();
        cell = format!("choice of {}", choices.join(", "));
    }
    if option.repeated {
        cell.push_str(", repeated");
    }
    cell
}

/// The README's default cell agrees with the schema: `required`, a `` `value` `` default, or
/// words (none, "Mozilla's roots") for an option without a default value.
fn default_agrees(option: &OptionSchema, cell: &str) -> bool {
    let literal = cell
        .strip_prefix('`')
        .and_then(|c| c.strip_suffix('`'))
        .filter(|c| !c.contains('`'));
    match (
        option.required,
        option.default.as_ref().into_option(),
        literal,
    ) {
        (true, None, _) => cell == "required",
        (false, Some(default), Some(literal)) => default.as_str() == literal,
        (false, None, None) => cell != "required",
        _ => false,
    }
}

/// Options as `(key, value)` pairs, a repeated key once per value (as the agents pass them).
type Options = Vec<(String, String)>;

/// `(key, value)` options of the `[plugin.<name>.options]` section of a sample config, once
/// as written (`live`) and once with its commented-out `# Key = value` examples (`examples`).
fn sample_options(conf: &str, name: &str) -> (Options, Options) {
    let header = format!("[plugin.{name}.options]");
    let Some(section) = conf.split(&header).nth(1) else {
        return (Vec::new(), Vec::new());
    };
    let section = section.split("\n[").next().unwrap_or("");
    let strings = |text: &str| -> Options {
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{name}.conf: {e}"));
        table
            .into_iter()
            .flat_map(|(key, value)| {
                let values = match value {
                    toml::Value::Array(items) => items,
                    other => vec![other],
                };
                values.into_iter().map(move |v| {
                    let text = match v {
                        toml::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (key.clone(), text)
                })
            })
            .collect()
    };
    let examples: String = section
        .lines()
        .filter_map(|l| l.strip_prefix("# "))
        .filter(|l| {
            l.split('=').next().is_some_and(|k| {
                k.trim().chars().all(|c| c.is_ascii_alphanumeric()) && l.contains('=')
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    (strings(section), strings(&examples))
}

#[test]
fn readmes_and_sample_configs_agree_with_each_plugins_schema() {
    let root = e2e::workspace_root();
    let mut problems = Vec::new();
    let mut dirs: Vec<_> = std::fs::read_dir(root.join("plugins"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 17, "{dirs:?}");
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        if !manifest.contains(&format!("name = \"plugin-{name}\"")) {
            problems.push(format!(
                "plugins/{name}: the crate is not called plugin-{name}"
            ));
        }
        let lib = manifest.split("[lib]").nth(1).unwrap_or("");
        if lib.split("\n[").next().unwrap_or("").contains("\nname =") {
            problems.push(format!("plugins/{name}: [lib] renames the library"));
        }
        let plugins = plugin_host::load(&e2e::built_plugin(&name))
            .unwrap_or_else(|e| panic!("libplugin_{name}.so: {e}"));
        assert_eq!(plugins.len(), 1, "plugins/{name} exports one plugin");
        let plugin = &plugins[0];
        if plugin.name() != name {
            problems.push(format!("plugins/{name}: its NAME is `{}`", plugin.name()));
        }
        let schema = plugin.options();
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        let table = readme_table(&readme);
        for option in schema {
            let key = option.name.as_str();
            match table.get(key) {
                None => problems.push(format!("plugins/{name}/README.md: no row for option {key}")),
                Some((kind, default)) => {
                    if *kind != type_cell(option) {
                        problems.push(format!(
                            "plugins/{name}/README.md: {key} has type `{kind}`, the schema says `{}`",
                            type_cell(option)
                        ));
                    }
                    if !default_agrees(option, default) {
                        problems.push(format!(
                            "plugins/{name}/README.md: {key} default {default}, the schema says \
                             required={} default={:?}",
                            option.required, option.default
                        ));
                    }
                }
            }
        }
        for row in table.keys() {
            if !schema.iter().any(|o| o.name.as_str() == row) {
                problems.push(format!(
                    "plugins/{name}/README.md: option {row} is not in the schema"
                ));
            }
        }
        let conf_path = dir.join(format!("{name}.conf"));
        if let Ok(conf) = std::fs::read_to_string(&conf_path) {
            let (live, examples) = sample_options(&conf, &name);
            problems.extend(plugin.check_options(&format!("{name}.conf"), &live));
            for problem in plugin.check_options(&format!("{name}.conf (commented)"), &examples) {
                // Commented examples are shown one at a time: only their names and types count.
                if !problem.contains("is required") && !problem.contains("times but takes one") {
                    problems.push(problem);
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The sample-config reader sees live and commented options, and a wrong one is caught.
#[test]
fn sample_config_reader_sees_live_and_commented_options() {
    let conf = "[plugin.x]\n# interval = 10\n[plugin.x.options]\nA = true\n# B = [\"a\", \"b\"]\n# just words\n";
    let (live, examples) = sample_options(conf, "x");
    assert_eq!(live, [("A".to_string(), "true".to_string())]);
    assert_eq!(examples.len(), 2);
    let table = readme_table(
        "| Option | Type | Default | Meaning |\n|--|--|--|--|\n| `A` | boolean | `true` | x |\n\nafter\n",
    );
    assert_eq!(table["A"], ("boolean".to_string(), "`true`".to_string()));
}
