//! Who a command runs as: the user's uid, the chosen group, the supplementary groups from
//! `getgrouplist`, home and shell, all resolved in the parent before the fork (the child may
//! only make async-signal-safe calls).

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{Gid, Group, User, getgrouplist};

/// A resolved user and group, ready for `setgroups`/`setgid`/`setuid` in the child.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// The user name (for `USER` and `LOGNAME`).
    pub name: String,
    /// The user id.
    pub uid: libc::uid_t,
    /// The group id the command runs with.
    pub gid: libc::gid_t,
    /// Every group of the process: `gid` plus the user's supplementary groups.
    pub groups: Vec<libc::gid_t>,
    /// The user's home directory (`HOME`, and the working directory when it exists).
    pub home: PathBuf,
    /// The user's login shell (`SHELL`).
    pub shell: PathBuf,
}

/// Why a user or group could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ResolveError {
    /// No such user or group (the request is wrong: retcode 3021).
    Unknown(String),
    /// The system's user database failed (retcode 3028).
    System(String),
}

/// Resolves `user` and `group` (default: the user's primary group).
pub(crate) fn resolve(user: &str, group: Option<&str>) -> Result<Credentials, ResolveError> {
    let found = User::from_name(user)
        .map_err(|e| ResolveError::System(format!("cannot look up user `{user}`: {e}")))?
        .ok_or_else(|| ResolveError::Unknown(format!("no such user `{user}`")))?;
    let gid = match group {
        None => found.gid,
        Some(name) => {
            Group::from_name(name)
                .map_err(|e| ResolveError::System(format!("cannot look up group `{name}`: {e}")))?
                .ok_or_else(|| ResolveError::Unknown(format!("no such group `{name}`")))?
                .gid
        }
    };
    let cname =
        CString::new(user).map_err(|_| ResolveError::Unknown(format!("no such user `{user}`")))?;
    let groups = getgrouplist(&cname, gid)
        .map_err(|e| ResolveError::System(format!("cannot list the groups of `{user}`: {e}")))?;
    let mut groups: Vec<libc::gid_t> = groups.into_iter().map(Gid::as_raw).collect();
    if !groups.contains(&gid.as_raw()) {
        groups.insert(0, gid.as_raw());
    }
    Ok(Credentials {
        name: found.name,
        uid: found.uid.as_raw(),
        gid: gid.as_raw(),
        groups,
        home: found.dir,
        shell: found.shell,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_resolves_with_its_primary_group() {
        let root = resolve("root", None).unwrap();
        assert_eq!((root.uid, root.gid), (0, 0));
        assert!(root.groups.contains(&0));
    }

    #[test]
    fn unknown_names_are_invalid_params() {
        assert_eq!(
            resolve("no-such-user-xyz", None).unwrap_err(),
            ResolveError::Unknown("no such user `no-such-user-xyz`".into())
        );
        assert_eq!(
            resolve("root", Some("no-such-group-xyz")).unwrap_err(),
            ResolveError::Unknown("no such group `no-such-group-xyz`".into())
        );
    }
}
