//! Host and server code take plugins as they come: no source file under `host/` or `server/`
//! names a built-in plugin (a `getinfo.<name>` command, a `lib<name>.so` / `<name>.so` file, a
//! `plugin.<name>` table, or the name as a string literal on a line about plugins). Words that
//! are also plugin names (`"cpu"` for a cgroup controller, `"uptime"` for a field) are fine
//! elsewhere. Test code and comments may name plugins: they use them as data.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir()
            && entry.file_name() != "target"
            && !["tests", "benches"].iter().any(|d| entry.file_name() == *d)
        {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !path
                .file_stem()
                .is_some_and(|s| s == "tests" || s.to_string_lossy().ends_with("_tests"))
        {
            out.push(path);
        }
    }
}

#[test]
fn no_builtin_plugin_name_in_host_or_server_code() {
    let root = e2e::workspace_root();
    let plugins: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(plugins.len() >= 8, "{plugins:?}");

    let mut files = Vec::new();
    rust_files(&root.join("host"), &mut files);
    rust_files(&root.join("server"), &mut files);
    let mut hits = Vec::new();
    for file in &files {
        let whole = std::fs::read_to_string(file).unwrap();
        let code = whole.split("#[cfg(test)]").next().unwrap_or("");
        let text: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        for name in &plugins {
            let anywhere = [
                format!("getinfo.{name}"),
                format!("\"lib{name}.so"),
                format!("\"libplugin_{name}.so"),
                format!("\"{name}.so"),
                format!("plugin.{name}"),
            ];
            for needle in &anywhere {
                if text.contains(needle.as_str()) {
                    hits.push(format!("{}: {needle}", file.display()));
                }
            }
            let literal = format!("\"{name}\"");
            for line in text.lines() {
                if line.contains(&literal) && line.to_lowercase().contains("plugin") {
                    hits.push(format!("{}: {}", file.display(), line.trim()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "host/server code names built-in plugins: {hits:#?}"
    );
}
