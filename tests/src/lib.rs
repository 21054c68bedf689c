//! Helpers for the end-to-end tests in `tests/tests/`: build the workspace once, then find and
//! run the real binaries and plugin `.so` files it produced.

pub mod boot;
pub mod fleet;
pub mod nodus;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The directory with the debug build's binaries and plugin `.so` files.
pub fn build_dir() -> PathBuf {
    // target/debug/deps/<test binary> -> target/debug
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// Builds every binary and plugin of the workspace once per test process.
///
/// `cargo test` builds test targets but not the `cdylib`s of plugin crates nor the binaries of
/// other packages, so the tests ask cargo for them (a no-op when they are up to date).
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "--workspace", "--bins", "--lib", "--quiet"];
        if build_dir().ends_with("release") {
            args.push("--release");
        }
        let status = Command::new(cargo)
            .args(&args)
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --workspace failed");
    });
}

/// Path of a workspace binary, built if needed.
pub fn bin(name: &str) -> PathBuf {
    ensure_built();
    build_dir().join(name)
}

/// The directory holding the freshly built plugins (`lib<name>.so`).
pub fn plugin_dir() -> PathBuf {
    ensure_built();
    build_dir()
}

/// Runs `gearctl -d <plugin dir> <args...>` and returns its output.
pub fn gearctl(args: &[&str]) -> Output {
    let dir = plugin_dir();
    Command::new(bin("gearctl"))
        .arg("-d")
        .arg(&dir)
        .args(args)
        .output()
        .expect("run gearctl")
}

/// Runs `gearctl -c getinfo.<name> -a <args>`, checks it succeeded, and returns the `data`
/// document of the result.
pub fn getinfo(name: &str, args: &str) -> serde_json::Value {
    let command = format!("getinfo.{name}");
    let out = gearctl(&["-c", &command, "-a", args]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "gearctl -c {command} -a {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("gearctl printed no JSON ({e}): {stdout}"));
    assert_eq!(result["resp"], "success", "{result}");
    result["data"].clone()
}

/// Runs `gearctl -c getinfo.<plugin> -a <args>`, a call that must fail with "Invalid params":
/// checks the non-zero exit, `resp` `failed` and retcode 3021, and returns the result object so
/// that the caller can check its message.
pub fn assert_invalid_params(plugin: &str, args: &str) -> serde_json::Value {
    let command = format!("getinfo.{plugin}");
    let out = gearctl(&["-c", &command, "-a", args]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "gearctl -c {command} -a {args:?} exited 0: {stdout}"
    );
    let result: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("gearctl printed no JSON ({e}): {stdout}{stderr}"));
    assert_eq!(result["resp"], "failed", "{args:?}: {result}");
    assert_eq!(result["retcode"], 3021, "{args:?}: {result}");
    result
}

/// The unsigned integer `doc[key]`; panics, showing `doc`, when it is missing or not one.
pub fn num(doc: &serde_json::Value, key: &str) -> u64 {
    doc[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no {key}: {doc}"))
}

/// Runs `program args...` with `LC_ALL=C` (so its output is not translated), checks that it
/// succeeded, and returns its trimmed stdout.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Builds the fixture crate `tests/fixtures/<name>` (outside the workspace, as a third party
/// would) and returns the path of a copy of its `.so`.
///
/// With `abi_version`, the fixture is built against a copy of `plugin-api` whose version is
/// changed to it, to produce a plugin of another ABI version. Fixtures share one target
/// directory (`target/fixtures`, so abi_stable is compiled once) and the workspace's
/// `Cargo.lock`, so dependency versions match. Builds are serialised because every variant
/// writes the same output file before it is copied aside.
pub fn build_fixture(name: &str, lib_name: &str, abi_version: Option<&str>) -> PathBuf {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root();
    let tag = abi_version.unwrap_or("current");
    let work = root
        .join("target/fixtures/src")
        .join(format!("{name}-{tag}"));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&root.join("tests/fixtures").join(name), &work.join(name));
    let api_path = match abi_version {
        None => root.join("plugin-api"),
        Some(version) => {
            let api = work.join("plugin-api");
            copy_dir(&root.join("plugin-api"), &api);
            let manifest = api.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).expect("read plugin-api manifest");
            let text = text.replacen(
                "version = \"1.0.0\"",
                &format!("version = \"{version}\""),
                1,
            );
            std::fs::write(&manifest, text).expect("write plugin-api manifest");
            api
        }
    };
    let manifest = work.join(name).join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).expect("read fixture manifest");
    let text = text.replace("../../../plugin-api", &api_path.display().to_string());
    std::fs::write(&manifest, text).expect("write fixture manifest");
    std::fs::copy(root.join("Cargo.lock"), work.join(name).join("Cargo.lock")).expect("copy lock");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target = root.join("target/fixtures");
    let status = Command::new(cargo)
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target)
        .status()
        .expect("run cargo build for the fixture");
    assert!(status.success(), "building fixture {name} ({tag}) failed");
    let built = target.join("debug").join(format!("lib{lib_name}.so"));
    let copy = target.join(format!("{lib_name}-{tag}.so"));
    std::fs::copy(&built, &copy).expect("copy the fixture's .so aside");
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create fixture copy");
    for entry in std::fs::read_dir(from).expect("read fixture dir").flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(name));
        } else {
            std::fs::copy(&path, to.join(name)).expect("copy fixture file");
        }
    }
}

/// A fresh directory holding copies of the given files under the given names.
pub fn plugin_dir_with(files: &[(&Path, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (from, name) in files {
        std::fs::copy(from, dir.path().join(name)).expect("copy plugin");
    }
    dir
}
