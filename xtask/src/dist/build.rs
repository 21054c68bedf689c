//! The portable release build: every binary and plugin linked against glibc 2.17 with
//! cargo-zigbuild (zig's linker and its glibc stubs of that version), then checked against that
//! floor and, where the code layout was applied, against the layout's recorded coverage.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

/// The target the packages are built for: x86_64 Linux, glibc 2.17 (CentOS 7, the floor of
/// Rust's own x86_64-unknown-linux-gnu target).
pub const TARGET: &str = "x86_64-unknown-linux-gnu.2.17";
/// The glibc floor every shipped file is checked against.
pub const GLIBC_FLOOR: &str = "2.17";
/// The output folder of that target under the target directory.
const TARGET_DIR_NAME: &str = "x86_64-unknown-linux-gnu";

/// What to build, from the workspace's metadata: the agents and their tools, the plugins (every
/// member under `plugins/`), the server.
pub struct Crates {
    /// Agent and tool packages (`-p` names), built with the code layout when asked.
    pub agents: Vec<String>,
    /// Plugin packages.
    pub plugins: Vec<String>,
    /// The server package.
    pub server: String,
}

/// Builds everything into `<target_dir>/x86_64-unknown-linux-gnu/release` and returns that
/// folder. `layout` applies `layout/*.ld` (`HOT_LAYOUT=1`) to the agents and plugins.
pub fn build(
    root: &Path,
    target_dir: &Path,
    crates: &Crates,
    layout: bool,
) -> anyhow::Result<PathBuf> {
    ensure_zigbuild()?;
    let hot = crates.agents.iter().chain(&crates.plugins);
    cargo_zigbuild(root, target_dir, hot, layout)?;
    // The server has no layout (one process per fleet; speed, not resident memory).
    cargo_zigbuild(root, target_dir, std::iter::once(&crates.server), false)?;
    Ok(target_dir.join(TARGET_DIR_NAME).join("release"))
}

fn cargo_zigbuild<'a>(
    root: &Path,
    target_dir: &Path,
    packages: impl Iterator<Item = &'a String>,
    layout: bool,
) -> anyhow::Result<()> {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["zigbuild", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(target_dir)
        .env("HOT_LAYOUT", if layout { "1" } else { "0" });
    for package in packages {
        cmd.args(["-p", package]);
    }
    eprintln!("xtask: {cmd:?}");
    let status = cmd.status().context("run cargo zigbuild")?;
    ensure!(status.success(), "cargo zigbuild failed ({status})");
    Ok(())
}

/// cargo-zigbuild and zig must be installed; says how when they are not.
pub fn ensure_zigbuild() -> anyhow::Result<()> {
    let found = Command::new("cargo-zigbuild")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        bail!(
            "cargo-zigbuild is not installed: `pip install ziglang cargo-zigbuild` \
             (or `cargo install cargo-zigbuild` with zig on the PATH)"
        );
    }
    Ok(())
}

/// Runs `packaging/check-floor.sh` on `files`: every one must need glibc ≤ 2.17 and carry no
/// DT_RELR table. Its report is printed.
pub fn check_floor(root: &Path, files: &[PathBuf]) -> anyhow::Result<()> {
    let out = Command::new(root.join("packaging/check-floor.sh"))
        .args(["--floor", GLIBC_FLOOR])
        .args(files)
        .output()
        .context("run packaging/check-floor.sh")?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    ensure!(
        out.status.success(),
        "a shipped file is above the glibc {GLIBC_FLOOR} floor: {}",
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("; ")
    );
    Ok(())
}
