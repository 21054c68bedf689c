//! Helpers for the end-to-end tests in `tests/tests/`: build the workspace once, then find and
//! run the real binaries and plugin `.so` files it produced.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The directory with the debug build's binaries and plugin `.so` files.
pub fn build_dir() -> PathBuf {
    // target/debug/deps/<test binary> -> target/debug
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent().and_then(Path::parent).expect("target dir").to_path_buf()
}

/// Builds every binary and plugin of the workspace once per test process.
///
/// `cargo test` builds test targets but not the `cdylib`s of plugin crates nor the binaries of
/// other packages, so the tests ask cargo for them (a no-op when they are up to date).
pub fn ensure_built() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--workspace", "--bins", "--lib", "--quiet"])
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
