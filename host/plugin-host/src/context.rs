//! The [`InitContext`] handed to a plugin's `init`: its options plus facts about the host.
//!
//! Host facts follow Telegraf's convention: `HOST_PROC`, `HOST_SYS` and `HOST_ETC` move where
//! plugins read `/proc`, `/sys` and `/etc` (containers, test fixtures).

use plugin_api::{ConfigEntry, InitContext};

/// Environment variables that relocate the host's pseudo file systems, and the facts they set.
const ROOT_VARIABLES: [(&str, &str, &str); 3] = [
    ("HOST_PROC", "proc_root", "/proc"),
    ("HOST_SYS", "sys_root", "/sys"),
    ("HOST_ETC", "etc_root", "/etc"),
];

fn entry(key: &str, value: &str) -> ConfigEntry {
    ConfigEntry {
        key: key.into(),
        value: value.into(),
    }
}

/// Host facts from the environment: `proc_root`, `sys_root`, `etc_root` and `hostname`.
pub fn host_facts() -> Vec<ConfigEntry> {
    let mut facts: Vec<ConfigEntry> = ROOT_VARIABLES
        .iter()
        .map(|(var, key, default)| {
            let value = std::env::var(var).ok().filter(|v| !v.is_empty());
            entry(key, value.as_deref().unwrap_or(default))
        })
        .collect();
    if let Ok(name) = nix::unistd::gethostname() {
        facts.push(entry("hostname", &name.to_string_lossy()));
    }
    facts
}

/// A context with the given `(key, value)` options and the host facts.
pub fn init_context<'a>(options: impl IntoIterator<Item = (&'a str, &'a str)>) -> InitContext {
    InitContext {
        options: options.into_iter().map(|(k, v)| entry(k, v)).collect(),
        host: host_facts().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_the_real_host() {
        let ctx = init_context([("Interface", "lo")]);
        assert_eq!(ctx.option("interface"), Some("lo"));
        // The test runner does not set HOST_PROC; if it ever does, the fact must follow it.
        let expected = std::env::var("HOST_PROC").unwrap_or_else(|_| "/proc".into());
        assert_eq!(ctx.proc_root(), std::path::PathBuf::from(expected));
        assert!(ctx.host_fact("hostname").is_some_and(|h| !h.is_empty()));
    }
}
