//! Host and server code take plugins as they come: no source file under `host/` or `server/`
//! names a built-in plugin (as a string literal or a `getinfo.<name>` command). Test code and
//! comments may: they use plugins as data.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir()
            && entry.file_name() != "target"
            && !["tests", "benches"].iter().any(|d| entry.file_name() == *d)
        {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
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
            for needle in [format!("\"{name}\""), format!("getinfo.{name}")] {
                if text.contains(&needle) {
                    hits.push(format!("{}: {needle}", file.display()));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "host/server code names built-in plugins: {hits:#?}"
    );
}
