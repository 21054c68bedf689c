//! Helpers for the end-to-end tests in `tests/tests/`: build the workspace once, then find and
//! run the real binaries and plugin `.so` files it produced.

pub mod boot;
pub mod files;
pub mod fleet;
pub mod nodus;
pub mod plugins;
pub mod receiver;
pub mod server;
pub mod tools;

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

/// The directory holding the freshly built plugins (`libplugin_<name>.so`).
pub fn plugin_dir() -> PathBuf {
    ensure_built();
    build_dir()
}

/// The freshly built file of built-in plugin `name`: crate `plugin-<name>`, library
/// `plugin_<name>`, file `libplugin_<name>.so` (installed as `<name>.so`).
pub fn built_plugin(name: &str) -> PathBuf {
    plugin_dir().join(format!("libplugin_{name}.so"))
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
    build_fixture_release(name, lib_name, abi_version, &[])
}

/// The rollout fixture (`tests/fixtures/rollout-plugin`) built as release `version`, with
/// `fault` (`init-panic`) built in when given: each call gives a distinct `.so`, as two
/// releases of a third-party plugin would be.
pub fn build_rollout_release(version: &str, fault: Option<&str>) -> PathBuf {
    let mut env = vec![("ROLLOUT_FIXTURE_VERSION", version)];
    if let Some(fault) = fault {
        env.push(("ROLLOUT_FIXTURE_FAULT", fault));
    }
    build_fixture_release("rollout-plugin", "rollout", None, &env)
}

/// [`build_fixture`] with environment variables the fixture reads at build time
/// (`option_env!`); the copy of the `.so` is named after them too.
pub fn build_fixture_release(
    name: &str,
    lib_name: &str,
    abi_version: Option<&str>,
    env: &[(&str, &str)],
) -> PathBuf {
    let api = match abi_version {
        None => Api::Current,
        Some(version) => Api::Relabelled(version),
    };
    build_fixture_with(name, lib_name, api, env)
}

/// The fixture `tests/fixtures/<name>` built against the real sources of plugin-api
/// `version` as this repository's history last had them (`git archive` of the newest commit
/// whose `plugin-api/Cargo.toml` says that version): a plugin exactly as a third party built
/// it against that release. Returns the path of a copy of its `.so`.
pub fn build_fixture_against_release(name: &str, lib_name: &str, version: &str) -> PathBuf {
    let root = workspace_root();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&root)
            .output()
            .expect("run git (the test reads plugin-api's history)");
        assert!(out.status.success(), "git {args:?} failed");
        out.stdout
    };
    let commits =
        String::from_utf8_lossy(&git(&["rev-list", "HEAD", "--", "plugin-api"])).into_owned();
    let wanted = format!("version = \"{version}\"");
    let commit = commits
        .lines()
        .find(|commit| {
            let manifest = git(&["show", &format!("{commit}:plugin-api/Cargo.toml")]);
            String::from_utf8_lossy(&manifest)
                .lines()
                .any(|l| l == wanted)
        })
        .unwrap_or_else(|| panic!("no commit has plugin-api {version}"))
        .to_string();
    let sources = root.join("target/fixtures/api").join(version);
    let _ = std::fs::remove_dir_all(&sources);
    std::fs::create_dir_all(&sources).expect("create api folder");
    let archive = git(&["archive", &commit, "plugin-api"]);
    let mut tar = Command::new("tar")
        .args(["-x", "-C"])
        .arg(&sources)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run tar");
    std::io::Write::write_all(tar.stdin.as_mut().expect("tar stdin"), &archive).expect("feed tar");
    assert!(tar.wait().expect("tar").success(), "tar failed");
    build_fixture_with(
        name,
        lib_name,
        Api::Sources(version, sources.join("plugin-api")),
        &[],
    )
}

/// Which plugin-api a fixture is built against.
enum Api<'a> {
    /// The workspace's.
    Current,
    /// A copy of the workspace's with its version changed.
    Relabelled(&'a str),
    /// Other sources (of that version).
    Sources(&'a str, PathBuf),
}

fn build_fixture_with(name: &str, lib_name: &str, api: Api<'_>, env: &[(&str, &str)]) -> PathBuf {
    static BUILDING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
    let root = workspace_root();
    let tag = match &api {
        Api::Current => "current".to_string(),
        Api::Relabelled(version) => version.to_string(),
        Api::Sources(version, _) => format!("release-{version}"),
    };
    let work = root
        .join("target/fixtures/src")
        .join(format!("{name}-{tag}"));
    let _ = std::fs::remove_dir_all(&work);
    copy_dir(&root.join("tests/fixtures").join(name), &work.join(name));
    let api_path = match api {
        Api::Current => root.join("plugin-api"),
        Api::Sources(_, path) => path,
        Api::Relabelled(version) => {
            let api = work.join("plugin-api");
            copy_dir(&root.join("plugin-api"), &api);
            let manifest = api.join("Cargo.toml");
            let text = std::fs::read_to_string(&manifest).expect("read plugin-api manifest");
            let current = format!("version = \"{}\"", plugin_api_version());
            let text = text.replacen(&current, &format!("version = \"{version}\""), 1);
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
    let mut build = Command::new(cargo);
    build
        .args(["build", "--quiet", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target);
    for (key, value) in env {
        build.env(key, value);
    }
    let status = build.status().expect("run cargo build for the fixture");
    assert!(status.success(), "building fixture {name} ({tag}) failed");
    let built = target.join("debug").join(format!("lib{lib_name}.so"));
    let variant: String = env.iter().map(|(_, v)| format!("-{v}")).collect();
    let copy = target.join(format!("{lib_name}-{tag}{variant}.so"));
    std::fs::copy(&built, &copy).expect("copy the fixture's .so aside");
    copy
}

/// The version of the workspace's `plugin-api` (the ABI version the agents are built with).
pub fn plugin_api_version() -> String {
    let manifest = workspace_root().join("plugin-api/Cargo.toml");
    let text = std::fs::read_to_string(manifest).expect("read plugin-api manifest");
    text.lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("plugin-api has a version line")
        .to_string()
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
