//! Signed packages interoperate with the real `minisign` tool (Debian's package): a package
//! it signs verifies in the BootAgent, a legacy signature is refused, and what `mkpkg --sign`
//! writes (with its own keys or a `minisign -G -W` key) verifies with `minisign -V`. Skipped
//! with a loud `SKIPPED` line where `minisign` is not installed (`.ci/run` installs it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use bootagent::signature::ReleaseKey;

const MKPKG: &str = env!("CARGO_BIN_EXE_mkpkg");

/// The `minisign` binary, or `None` after a loud SKIPPED line.
fn minisign() -> Option<PathBuf> {
    let found = ["/usr/bin/minisign", "/usr/local/bin/minisign"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!(
            "SKIPPED: minisign is not installed (apt-get install -y minisign); \
             no interoperability test with the real tool"
        );
    }
    found
}

fn run(program: &Path, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run a program");
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A small package made by the real mkpkg, signed with `key` when given.
fn package(dir: &Path, version: &str, key: Option<&Path>) -> PathBuf {
    let script = dir.join("run.sh");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 1000\n").unwrap();
    let out = dir.join(format!("sleeper-{version}.tar.gz"));
    let mut args = vec![
        "pack",
        "--name",
        "sleeper",
        "--version",
        version,
        "--start",
        "./run.sh",
        "--file",
        s(&script),
        "-o",
        s(&out),
    ];
    if let Some(key) = key {
        args.extend(["--sign", s(key)]);
    }
    run(Path::new(MKPKG), &args);
    out
}

/// `minisign -G -W`: an unencrypted key pair in `dir`.
fn minisign_keys(minisign: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let (public, secret) = (dir.join("m.pub"), dir.join("m.key"));
    run(minisign, &["-G", "-W", "-p", s(&public), "-s", s(&secret)]);
    (public, secret)
}

#[test]
fn a_package_signed_by_minisign_verifies_in_the_bootagent() {
    let Some(minisign) = minisign() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (public, secret) = minisign_keys(&minisign, dir.path());
    let file = package(dir.path(), "1.0", None);
    run(&minisign, &["-S", "-s", s(&secret), "-m", s(&file)]);
    let signature = std::fs::read_to_string(dir.path().join("sleeper-1.0.tar.gz.minisig")).unwrap();

    let key = ReleaseKey::from_file(&public).unwrap();
    key.verify_file(&file, &signature).unwrap();
    // The key id is the one minisign shows.
    let pub_text = std::fs::read_to_string(&public).unwrap();
    assert!(pub_text.contains(key.id()), "{pub_text} / {}", key.id());
    // The bare key line (`-P` form) works too.
    let line = pub_text.lines().nth(1).unwrap();
    ReleaseKey::parse(line)
        .unwrap()
        .verify_file(&file, &signature)
        .unwrap();

    // A changed package is refused.
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let err = key.verify_file(&file, &signature).unwrap_err();
    assert!(err.contains("does not match release key"), "{err}");

    // A legacy (not pre-hashed) signature is refused with the reason.
    let legacy = package(dir.path(), "2.0", None);
    run(&minisign, &["-S", "-l", "-s", s(&secret), "-m", s(&legacy)]);
    let signature = std::fs::read_to_string(dir.path().join("sleeper-2.0.tar.gz.minisig")).unwrap();
    let err = key.verify_file(&legacy, &signature).unwrap_err();
    assert!(err.contains("legacy"), "{err}");
}

#[test]
fn what_mkpkg_signs_verifies_with_minisign() {
    let Some(minisign) = minisign() else { return };
    let dir = tempfile::tempdir().unwrap();
    // mkpkg's own key pair.
    let keys = dir.path().join("keys");
    let printed = run(Path::new(MKPKG), &["keygen", "-o", s(&keys)]);
    let printed = String::from_utf8_lossy(&printed.stdout).to_string();
    let file = package(dir.path(), "1.0", Some(&keys.join("minisign.key")));
    run(
        &minisign,
        &["-V", "-p", s(&keys.join("minisign.pub")), "-m", s(&file)],
    );
    // The printed config line names the same key, which minisign takes with -P.
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix("bootagent.conf: release_key = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("mkpkg keygen prints the release_key line");
    run(&minisign, &["-V", "-P", line, "-m", s(&file)]);

    // A key made by `minisign -G -W` signs in mkpkg too.
    let (public, secret) = minisign_keys(&minisign, dir.path());
    let file = package(dir.path(), "2.0", Some(&secret));
    run(&minisign, &["-V", "-p", s(&public), "-m", s(&file)]);
    // And minisign refuses it under another key.
    let out = Command::new(&minisign)
        .args(["-V", "-p", s(&keys.join("minisign.pub")), "-m", s(&file)])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
