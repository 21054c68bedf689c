//! What plugin-api/README.md tells a plugin author about files and folders, as gearctl shows
//! it: a plugin loads as `hello.so` or as cargo's `libhello.so`, a file ending otherwise
//! (`hello.so.tmp`, mid-install) is never loaded, and gearctl is pointed at another folder with
//! `-d` or `GEARMAN_PLUGIN_DIR` (the flag winning).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn hello_plugin() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| e2e::build_fixture("hello-plugin", "hello", None))
}

/// `gearctl <args>` with `GEARMAN_PLUGIN_DIR` set to `env_dir` (or unset): its JSON answer.
fn gearctl(env_dir: Option<&Path>, args: &[&str]) -> Value {
    let mut command = Command::new(e2e::bin("gearctl"));
    command.env_remove("GEARMAN_PLUGIN_DIR").args(args);
    if let Some(dir) = env_dir {
        command.env("GEARMAN_PLUGIN_DIR", dir);
    }
    let out = command.output().expect("run gearctl");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn hello_world(env_dir: Option<&Path>, flag_dir: Option<&Path>) -> Value {
    let flag = flag_dir.map(|d| d.to_string_lossy().into_owned());
    let mut args = Vec::new();
    if let Some(dir) = &flag {
        args.extend(["-d", dir.as_str()]);
    }
    args.extend(["-c", "getinfo.hello", "-a", "world"]);
    gearctl(env_dir, &args)
}

#[test]
fn hello_so_and_libhello_so_load_and_a_tmp_file_does_not() {
    for name in ["hello.so", "libhello.so"] {
        let dir = e2e::plugin_dir_with(&[(hello_plugin(), name)]);
        let answer = hello_world(None, Some(dir.path()));
        assert_eq!(answer["resp"], "success", "{name}: {answer}");
        assert_eq!(answer["data"]["greeting"], "hello, world", "{name}");
    }
    let dir = e2e::plugin_dir_with(&[(hello_plugin(), "hello.so.tmp")]);
    let answer = hello_world(None, Some(dir.path()));
    assert_eq!(answer["resp"], "failed", "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .is_some_and(|m| m.contains("No such method")),
        "{answer}"
    );
}

#[test]
fn gearctl_takes_its_plugin_folder_from_the_flag_or_the_environment() {
    let with_hello = e2e::plugin_dir_with(&[(hello_plugin(), "libhello.so")]);
    let empty = tempfile::tempdir().unwrap();
    let from_env = hello_world(Some(with_hello.path()), None);
    assert_eq!(from_env["data"]["greeting"], "hello, world", "{from_env}");
    // The flag wins over the environment, both ways.
    let flag_wins = hello_world(Some(with_hello.path()), Some(empty.path()));
    assert_eq!(flag_wins["resp"], "failed", "{flag_wins}");
    let flag_wins = hello_world(Some(empty.path()), Some(with_hello.path()));
    assert_eq!(flag_wins["resp"], "success", "{flag_wins}");
}
