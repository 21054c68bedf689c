//! Which plugin directory an agent scans.
//!
//! Order: the command-line flag, then the agent's environment variable, then the install path
//! (`/usr/lib/cargo/<agent>`) when it exists, and last the directory of the running executable,
//! so that `cargo build` followed by `target/debug/gearctl` finds the plugins it just built.

use std::path::{Path, PathBuf};

/// The install path of an agent's plugins, e.g. `/usr/lib/cargo/gearman`.
pub fn install_dir(agent: &str) -> PathBuf {
    Path::new("/usr/lib/cargo").join(agent)
}

/// Resolves the plugin directory of `agent` from a flag and an environment variable.
pub fn plugin_dir(flag: Option<&Path>, env_var: &str, agent: &str) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let installed = install_dir(agent);
    if installed.is_dir() {
        return installed;
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
        .unwrap_or(installed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins_over_environment() {
        let flag = Path::new("/opt/plugins");
        assert_eq!(plugin_dir(Some(flag), "PATH", "gearman"), flag);
    }

    #[test]
    fn environment_wins_over_defaults() {
        // HOME is always set for the test runner; any set variable shows the rule.
        let home = std::env::var_os("HOME").expect("HOME");
        assert_eq!(plugin_dir(None, "HOME", "gearman"), PathBuf::from(home));
    }

    #[test]
    fn falls_back_to_install_or_executable_dir() {
        let dir = plugin_dir(None, "SURELY_UNSET_PLUGIN_DIR_VARIABLE", "no-such-agent");
        let exe_dir = std::env::current_exe()
            .unwrap()
            .parent()
            .unwrap()
            .to_path_buf();
        assert_eq!(dir, exe_dir);
    }
}
