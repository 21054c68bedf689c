//! collectd's ignore lists with exact names: a repeated option that names what to report
//! (`Disk sda`, `Interface eth0`, `MountPoint /boot`) and `IgnoreSelected`, which inverts it.
//!
//! collectd also accepts `/regex/` entries; this SDK refuses them with "Invalid params", so a
//! configuration that relies on them fails at `init` instead of silently selecting nothing.
//!
//! ```
//! # use plugin_api::{InitContext, Selection};
//! let ctx = InitContext::default().with_options(&[("Disk", "sda"), ("IgnoreSelected", "true")]);
//! let disks = Selection::from_options(&ctx, "Disk", "device name such as sda").unwrap();
//! assert!(disks.ignores("sda"));
//! assert!(!disks.ignores("sdb"));
//! ```

use crate::abi::{InitContext, PluginError};

/// Which names a plugin reports: collectd's ignore list with exact names.
///
/// With no names nothing is ignored (even with `IgnoreSelected`, as in collectd); otherwise
/// only the listed names are reported, or, with `IgnoreSelected`, all but the listed ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    names: Vec<String>,
    ignore_selected: bool,
}

impl Selection {
    /// Reads the repeated option `key` (case-insensitive, like every option) and the boolean
    /// option `IgnoreSelected` (default `false`).
    ///
    /// An empty entry or a `/regex/` entry is refused with "Invalid params":
    /// `` option {key} = `{entry}`: give an exact {what} (regular expressions are not supported) ``,
    /// so `what` says what an entry names, e.g. `"device name such as sda"`.
    pub fn from_options(
        ctx: &InitContext,
        key: &str,
        what: &str,
    ) -> Result<Selection, PluginError> {
        let names = names(ctx, key, what)?;
        Ok(Selection {
            names,
            ignore_selected: ctx.option_bool("IgnoreSelected", false)?,
        })
    }

    /// As [`Selection::from_options`], with `ignore_selected` given instead of read: for
    /// plugins whose one `IgnoreSelected` option inverts several lists (df's `Device`,
    /// `MountPoint` and `FSType`).
    pub fn from_options_with(
        ctx: &InitContext,
        key: &str,
        what: &str,
        ignore_selected: bool,
    ) -> Result<Selection, PluginError> {
        Ok(Selection {
            names: names(ctx, key, what)?,
            ignore_selected,
        })
    }

    /// Whether `name` is left out: with no names nothing is; otherwise the listed ones are
    /// kept (or, with `IgnoreSelected`, left out). Names compare exactly.
    pub fn ignores(&self, name: &str) -> bool {
        !self.names.is_empty() && self.names.iter().any(|n| n == name) == self.ignore_selected
    }
}

/// The entries of option `key`, trimmed; empty and `/regex/` entries are refused.
fn names(ctx: &InitContext, key: &str, what: &str) -> Result<Vec<String>, PluginError> {
    let mut names = Vec::new();
    for name in ctx.options(key) {
        let name = name.trim();
        if name.is_empty() || (name.len() > 1 && name.starts_with('/') && name.ends_with('/')) {
            return Err(PluginError::invalid_params(format!(
                "option {key} = `{name}`: give an exact {what} (regular expressions are not supported)"
            )));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes;

    fn select(options: &[(&str, &str)]) -> Result<Selection, PluginError> {
        let ctx = InitContext::default().with_options(options);
        Selection::from_options(&ctx, "Disk", "device name such as sda")
    }

    #[test]
    fn no_names_ignore_nothing() {
        assert!(!select(&[]).unwrap().ignores("sda"));
        // IgnoreSelected without names has no effect, as in collectd.
        assert!(
            !select(&[("IgnoreSelected", "true")])
                .unwrap()
                .ignores("sda")
        );
    }

    #[test]
    fn names_keep_only_themselves() {
        let s = select(&[("Disk", "sda"), ("disk", " hda1 ")]).unwrap();
        assert!(!s.ignores("sda"));
        assert!(!s.ignores("hda1"));
        assert!(s.ignores("sdb"));
        // Exact names: no prefixes, no case folding.
        assert!(s.ignores("sda1"));
        assert!(s.ignores("SDA"));
    }

    #[test]
    fn ignore_selected_inverts() {
        let s = select(&[("Disk", "sda"), ("IgnoreSelected", "yes")]).unwrap();
        assert!(s.ignores("sda"));
        assert!(!s.ignores("sdb"));
    }

    #[test]
    fn shared_ignore_selected_is_not_read() {
        let ctx = InitContext::default()
            .with_options(&[("FSType", "tmpfs"), ("IgnoreSelected", "false")]);
        let s = Selection::from_options_with(&ctx, "FSType", "value", true).unwrap();
        assert!(s.ignores("tmpfs"));
        assert!(!s.ignores("ext4"));
        let none = Selection::from_options_with(&ctx, "Device", "value", true).unwrap();
        assert!(!none.ignores("/dev/sda1"));
    }

    #[test]
    fn regexes_and_empty_entries_are_refused() {
        for bad in ["/sd[a-z]/", "", "  "] {
            let err = select(&[("Disk", bad)]).unwrap_err();
            assert_eq!(err.code, codes::INVALID_PARAMS, "{bad:?}");
        }
        let err = select(&[("Disk", "/^sd/")]).unwrap_err();
        assert_eq!(
            err.message,
            "Invalid params: option Disk = `/^sd/`: give an exact device name such as sda \
             (regular expressions are not supported)"
        );
        // A lone slash is a name, not an empty regex.
        assert!(!select(&[("Disk", "/")]).unwrap().ignores("/"));
        let err = select(&[("IgnoreSelected", "sometimes")]).unwrap_err();
        assert_eq!(err.code, codes::INVALID_PARAMS);
    }
}
