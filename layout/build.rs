//! Build script shared by the agents and the plugins (`build = "../../layout/build.rs"`): in
//! release builds it links the functions the program actually runs side by side, ahead of all
//! other code, so that the pages the kernel maps for them (in 64 kB blocks) hold little else.
//!
//! The list is the linker script `layout/<package>.ld` (`layout/plugins.ld` for `plugin-*`),
//! written by `layout/profile.sh` from a callgrind run; see `layout/README.md`. It is a release
//! step, not part of every build: only `HOT_LAYOUT=1` applies it (the packaging command does),
//! so a plain `cargo build --release` links in the compiler's order with any linker.

use std::env;
use std::path::PathBuf;

fn main() {
    let layout = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../layout");
    let package = env::var("CARGO_PKG_NAME").unwrap_or_default();
    let name = if package.starts_with("plugin-") {
        "plugins".to_string()
    } else {
        package
    };
    let script = layout.join(format!("{name}.ld"));
    println!("cargo:rerun-if-changed={}", script.display());
    println!("cargo:rerun-if-env-changed=HOT_LAYOUT");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if !(release && linux) {
        return;
    }
    let wanted = env::var("HOT_LAYOUT").as_deref() == Ok("1");
    if wanted && script.is_file() {
        println!("cargo:rustc-link-arg=-Wl,-T,{}", script.display());
    }
}
