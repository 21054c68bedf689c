//! What `plugin.install` and `plugin.upgrade` do given what is installed: a pure decision
//! ([`plan`]) and the failure message every refusal and failed attempt carries ([`failure`]),
//! starting `kept <old version>:` or `not installed:` so an operator reading a rollout's
//! per-host status sees at once what runs there now.
//!
//! The choices: `install` of a release already there (same version and file digest) succeeds
//! without touching anything ("already installed"), so a rollout may be run again; `install`
//! over another version (or another build of the same version) is refused, the installed one
//! kept: replacing what runs is `upgrade`'s job, asked for by name. `upgrade` of a plugin not
//! installed is refused (nothing to upgrade; `install` puts a first version); `upgrade` to what
//! is installed succeeds without change; `upgrade` to any other version or build (a downgrade
//! too: rolling back is an upgrade to the older release) replaces it, checked.

/// `plugin.install` or `plugin.upgrade`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    /// `plugin.install`.
    Install,
    /// `plugin.upgrade`.
    Upgrade,
}

/// What is installed under the release's name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Installed {
    /// The version the running plugin reports.
    pub version: String,
    /// `SHA256:<hex>` of its file, or empty when the agent does not say (an older nodus).
    pub digest: String,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Download, check and put the release in place of `previous` (none: a first install).
    Put {
        /// The version replaced.
        previous: Option<String>,
    },
    /// The release is what runs: nothing to do.
    AlreadyThere,
    /// Refused without a download; the whole failure message.
    Refuse(String),
}

/// Decides what `verb` of release `version` (whose file is `digest`) does over `installed`.
pub fn plan(
    verb: Verb,
    name: &str,
    installed: Option<&Installed>,
    version: &str,
    digest: &str,
) -> Plan {
    let same_build = |i: &Installed| {
        i.version == version && (i.digest.is_empty() || i.digest.eq_ignore_ascii_case(digest))
    };
    match (verb, installed) {
        (_, Some(i)) if same_build(i) => Plan::AlreadyThere,
        (Verb::Install, None) => Plan::Put { previous: None },
        (Verb::Install, Some(i)) if i.version == version => Plan::Refuse(failure(
            Some(&i.version),
            &format!(
                "`{name}` {version} is installed from another file ({}); plugin.upgrade \
                 replaces it",
                i.digest
            ),
        )),
        (Verb::Install, Some(i)) => Plan::Refuse(failure(
            Some(&i.version),
            &format!(
                "`{name}` {} is installed; plugin.upgrade replaces it",
                i.version
            ),
        )),
        (Verb::Upgrade, None) => Plan::Refuse(failure(
            None,
            &format!("`{name}` is not installed; plugin.install puts a first version"),
        )),
        (Verb::Upgrade, Some(i)) => Plan::Put {
            previous: Some(i.version.clone()),
        },
    }
}

/// The message of a release that was not put in place: `kept <previous>: <reason>`, or
/// `not installed: <reason>` when nothing was installed before.
pub fn failure(previous: Option<&str>, reason: &str) -> String {
    match previous {
        Some(version) => format!("kept {version}: {reason}"),
        None => format!("not installed: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D1: &str = "SHA256:1111";
    const D2: &str = "SHA256:2222";

    fn at(version: &str, digest: &str) -> Installed {
        Installed {
            version: version.into(),
            digest: digest.into(),
        }
    }

    #[test]
    fn install_puts_a_first_version_and_never_replaces_another() {
        assert_eq!(
            plan(Verb::Install, "x", None, "1.0", D1),
            Plan::Put { previous: None }
        );
        assert_eq!(
            plan(Verb::Install, "x", Some(&at("1.0", D1)), "1.0", D1),
            Plan::AlreadyThere
        );
        // An agent that does not report digests: the version decides.
        assert_eq!(
            plan(Verb::Install, "x", Some(&at("1.0", "")), "1.0", D1),
            Plan::AlreadyThere
        );
        let Plan::Refuse(why) = plan(Verb::Install, "x", Some(&at("1.0", D1)), "2.0", D2) else {
            panic!("install over another version must be refused");
        };
        assert_eq!(
            why,
            "kept 1.0: `x` 1.0 is installed; plugin.upgrade replaces it"
        );
        let Plan::Refuse(why) = plan(Verb::Install, "x", Some(&at("1.0", D1)), "1.0", D2) else {
            panic!("install of another build must be refused");
        };
        assert!(why.starts_with("kept 1.0: `x` 1.0 is installed from another file"));
    }

    #[test]
    fn upgrade_replaces_what_is_installed_and_only_that() {
        assert_eq!(
            plan(Verb::Upgrade, "x", Some(&at("1.0", D1)), "2.0", D2),
            Plan::Put {
                previous: Some("1.0".into())
            }
        );
        // A downgrade is a rollback: allowed.
        assert_eq!(
            plan(Verb::Upgrade, "x", Some(&at("2.0", D2)), "1.0", D1),
            Plan::Put {
                previous: Some("2.0".into())
            }
        );
        // Another build of the same version.
        assert_eq!(
            plan(Verb::Upgrade, "x", Some(&at("1.0", D1)), "1.0", D2),
            Plan::Put {
                previous: Some("1.0".into())
            }
        );
        assert_eq!(
            plan(Verb::Upgrade, "x", Some(&at("2.0", D2)), "2.0", D2),
            Plan::AlreadyThere
        );
        assert_eq!(
            plan(Verb::Upgrade, "x", None, "2.0", D2),
            Plan::Refuse(
                "not installed: `x` is not installed; plugin.install puts a first version".into()
            )
        );
    }
}
