//! What the xtask tests share: running `xtask` into a fresh folder, finding a tool on PATH (or
//! saying loudly that it is missing), and reading the keys a hand-written page documents.

#![allow(dead_code)] // Each test file uses its own part.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The hand-written pages, in the repository.
pub const HAND_WRITTEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/man");

/// Runs `xtask <task> <dir>` into a new temporary folder and returns it.
pub fn run_xtask(task: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg(task)
        .arg(out.path())
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "xtask {task} failed: {}\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    out
}

/// The program's path when it is installed, else `None` after a loud SKIPPED line.
pub fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        println!("SKIPPED: {name} not installed (apt-get install {package})");
    }
    found
}

/// The files of `dir`, by name.
pub fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// A roff line without font escapes, `\&`, `\-` and quotes: what a reader sees of it.
pub fn plain(line: &str) -> String {
    let mut text = line.to_string();
    for (from, to) in [
        ("\\fB", ""),
        ("\\fI", ""),
        ("\\fR", ""),
        ("\\fP", ""),
        ("\\&", ""),
        ("\\-", "-"),
        ("\\(dq", "\""),
        ("\"", ""),
    ] {
        text = text.replace(from, to);
    }
    text
}

/// The keys a page documents, by section: under `.SH KEYS` (or `.SH METHODS`), each `.TP`
/// tag's first word is a key; a `.SS` heading opens a section named by its first word
/// without brackets (`[tls]` is `tls`, `[plugin.name] and ...` is `plugin.name`,
/// `sync.bash` is `sync.bash`). Top-level keys are in section "".
pub fn documented_keys(page: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut collecting = false;
    let mut section = String::new();
    let mut lines = page.lines();
    while let Some(line) = lines.next() {
        if let Some(heading) = line.strip_prefix(".SH ") {
            let heading = plain(heading);
            collecting = heading == "KEYS" || heading == "METHODS";
            section.clear();
            if collecting {
                sections.entry(section.clone()).or_default();
            }
        } else if !collecting {
            continue;
        } else if let Some(heading) = line.strip_prefix(".SS ") {
            let heading = plain(heading);
            let first = heading.split_whitespace().next().unwrap_or_default();
            section = first.trim_matches(['[', ']']).to_string();
            sections.entry(section.clone()).or_default();
        } else if line == ".TP" {
            let tag = lines.next().unwrap_or_default();
            let tag = tag.split_once(' ').map(|(_, rest)| rest).unwrap_or(tag);
            let key = plain(tag)
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
            sections.entry(section.clone()).or_default().insert(key);
        }
    }
    sections
}

/// The text of hand-written page `name`.
pub fn hand_written(name: &str) -> String {
    std::fs::read_to_string(Path::new(HAND_WRITTEN).join(name)).unwrap()
}
