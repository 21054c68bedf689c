//! The agents' local control sockets (gearman's for `gearctl`, nodus's for `nodusctl`):
//! bound under a restrictive umask, so the socket file is never open to others, not even
//! between `bind` and a `chmod`; then given the configured group and mode `0660` (or `0600`
//! without a group). Every connection's peer is checked with `SO_PEERCRED`: root, the
//! agent's own user and members of the configured group (primary or supplementary, as the
//! group database says) are let in, anyone else gets a one-line refusal.

use std::io;
use std::os::fd::{AsFd, AsRawFd as _};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context as _;
use nix::unistd::{Gid, Group, Uid, User};

/// Who is on the other end of a unix socket connection (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's process id when it connected.
    pub pid: i32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

/// The credentials of the process connected through `stream`.
pub fn peer_of(stream: &impl AsFd) -> io::Result<Peer> {
    let fd = stream.as_fd().as_raw_fd();
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: fd is a live socket borrowed for the call; cred and len are valid for writes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Peer {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

/// Who may use a control socket: root, the agent's own user, and the members of `group`.
#[derive(Clone, Debug)]
pub struct SocketAccess {
    own_uid: u32,
    group: Option<(String, u32)>,
}

impl SocketAccess {
    /// Access for root and this process's effective user, plus the members of `group`
    /// (a name or a numeric gid) when given. An unknown group is an error.
    pub fn new(group: Option<&str>) -> anyhow::Result<SocketAccess> {
        let group = match group.map(str::trim).filter(|g| !g.is_empty()) {
            None => None,
            Some(name) => {
                let gid = match name.parse::<u32>() {
                    Ok(gid) => gid,
                    Err(_) => Group::from_name(name)
                        .with_context(|| format!("look up group `{name}`"))?
                        .with_context(|| format!("socket_group: no such group `{name}`"))?
                        .gid
                        .as_raw(),
                };
                Some((name.to_string(), gid))
            }
        };
        Ok(SocketAccess {
            own_uid: Uid::effective().as_raw(),
            group,
        })
    }

    /// The socket file's mode: `0660` with a group, else `0600`.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() { 0o660 } else { 0o600 }
    }

    /// Whether `peer` may use the socket; the error is the one-line refusal to send back.
    pub fn check(&self, peer: &Peer) -> Result<(), String> {
        if peer.uid == 0 || peer.uid == self.own_uid {
            return Ok(());
        }
        if let Some((_, gid)) = &self.group
            && (peer.gid == *gid || user_in_group(peer.uid, *gid))
        {
            return Ok(());
        }
        let who = User::from_uid(Uid::from_raw(peer.uid))
            .ok()
            .flatten()
            .map_or(String::new(), |u| format!(" ({})", u.name));
        let allowed = match &self.group {
            Some((name, _)) => format!(
                "root, uid {} (the agent's user) and members of group `{name}`",
                self.own_uid
            ),
            None => format!(
                "root and uid {} (the agent's user); `socket_group` in the agent's configuration lets a group in",
                self.own_uid
            ),
        };
        Err(format!(
            "permission denied: uid {}{who} may not use this socket; allowed are {allowed}",
            peer.uid
        ))
    }

    /// [`peer_of`] then [`check`](Self::check): the peer when allowed, else the refusal.
    pub fn admit(&self, stream: &impl AsFd) -> Result<Peer, String> {
        let peer = peer_of(stream)
            .map_err(|e| format!("permission denied: cannot tell who connected ({e})"))?;
        self.check(&peer).map(|()| peer)
    }
}

/// Whether the user `uid` is a member of group `gid` in the user and group databases.
fn user_in_group(uid: u32, gid: u32) -> bool {
    let Ok(Some(user)) = User::from_uid(Uid::from_raw(uid)) else {
        return false;
    };
    if user.gid.as_raw() == gid {
        return true;
    }
    let Ok(name) = std::ffi::CString::new(user.name) else {
        return false;
    };
    nix::unistd::getgrouplist(&name, user.gid)
        .is_ok_and(|groups| groups.contains(&Gid::from_raw(gid)))
}

/// The umask is the process's: one bind at a time changes it.
static UMASK: Mutex<()> = Mutex::new(());

/// Binds a unix socket at `path` (its folder created if missing; an old socket file is the
/// caller's to remove) under umask `0177`, so it is born `0600`; then gives it `access`'s
/// group and mode. Call it while the agent starts: the umask is process-wide, and a file
/// another thread creates during the bind comes out narrower than asked (never wider).
pub fn bind(path: &Path, access: &SocketAccess) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let listener = {
        let _one = UMASK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: umask only swaps the process's file creation mask.
        let old = unsafe { libc::umask(0o177) };
        let bound = UnixListener::bind(path);
        // SAFETY: as above, restoring the mask.
        unsafe { libc::umask(old) };
        bound.with_context(|| format!("cannot bind socket {}", path.display()))?
    };
    if let Some((name, gid)) = &access.group {
        std::os::unix::fs::chown(path, None, Some(*gid))
            .with_context(|| format!("give socket {} to group `{name}`", path.display()))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(access.mode()))
        .with_context(|| format!("chmod socket {}", path.display()))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    #[test]
    fn sockets_are_born_private_and_peers_are_known() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/agent.sock");
        let access = SocketAccess::new(None).unwrap();
        let listener = bind(&path, &access).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let client = UnixStream::connect(&path).unwrap();
        let (server, _) = listener.accept().unwrap();
        let peer = access.admit(&server).unwrap();
        assert_eq!(peer.pid, std::process::id() as i32);
        assert_eq!(peer.uid, Uid::effective().as_raw());
        drop(client);

        let grouped = SocketAccess::new(Some("0")).unwrap();
        assert_eq!(grouped.mode(), 0o660);
        let path = dir.path().join("grouped.sock");
        let _listener = bind(&path, &grouped).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
    }

    #[test]
    fn only_root_the_agent_and_the_group_are_let_in() {
        let access = SocketAccess {
            own_uid: 1000,
            group: None,
        };
        let peer = |uid, gid| Peer { pid: 1, uid, gid };
        assert!(access.check(&peer(0, 0)).is_ok());
        assert!(access.check(&peer(1000, 1000)).is_ok());
        let refusal = access.check(&peer(65534, 65534)).unwrap_err();
        assert!(
            refusal.starts_with("permission denied: uid 65534"),
            "{refusal}"
        );
        assert!(refusal.contains("socket_group"), "{refusal}");
        let grouped = SocketAccess {
            own_uid: 0,
            group: Some(("ops".into(), 4242)),
        };
        assert!(grouped.check(&peer(65534, 4242)).is_ok(), "primary group");
        let refusal = grouped.check(&peer(65534, 65534)).unwrap_err();
        assert!(refusal.contains("group `ops`"), "{refusal}");
        assert!(SocketAccess::new(Some("no-such-group-here")).is_err());
    }
}
