//! The only code that forks: the program itself (detached: own session and process group, no
//! parent-death signal, stdio to its log or /dev/null, joined to its cgroup before `exec`),
//! and the short shell commands around it (precheck, check, stop command). User, group and
//! supplementary groups are resolved in the parent; the child only makes async-signal-safe
//! calls.

use std::ffi::{CString, OsStr};
use std::fs::OpenOptions;
use std::io;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::spec::ProgramSpec;

/// A resolved user and group, ready for `setgroups`/`setgid`/`setuid` in the child.
#[derive(Debug, Clone)]
pub struct Credentials {
    name: String,
    home: String,
    uid: libc::uid_t,
    gid: libc::gid_t,
    groups: Vec<libc::gid_t>,
}

/// Resolves the spec's user and group; `None` when neither is set (run as the supervisor).
pub fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Credentials>, String> {
    if user.is_none() && group.is_none() {
        return Ok(None);
    }
    let (name, uid, user_gid, home) = match user {
        Some(user) => {
            let pw = getpwnam(user)?.ok_or_else(|| format!("no such user `{user}`"))?;
            (user.to_string(), pw.0, pw.1, pw.2)
        }
        // SAFETY: getuid/getgid cannot fail.
        None => (
            String::new(),
            unsafe { libc::getuid() },
            unsafe { libc::getgid() },
            String::new(),
        ),
    };
    let gid = match group {
        Some(g) => getgrnam(g)?.ok_or_else(|| format!("no such group `{g}`"))?,
        None => user_gid,
    };
    let mut groups = vec![gid];
    if !name.is_empty() {
        for g in getgrouplist(&name, gid)? {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    Ok(Some(Credentials {
        name,
        home,
        uid,
        gid,
        groups,
    }))
}

fn getpwnam(name: &str) -> Result<Option<(libc::uid_t, libc::gid_t, String)>, String> {
    let cname = CString::new(name).map_err(|_| format!("no such user `{name}`"))?;
    let mut buf = vec![0 as libc::c_char; 16384];
    // SAFETY: an all-zero passwd is a valid out-parameter for getpwnam_r.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; buf outlives the use of pw's strings.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pw,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot look up user `{name}`: {}",
            io::Error::from_raw_os_error(rc)
        ));
    }
    if out.is_null() {
        return Ok(None);
    }
    // SAFETY: pw_dir points into buf, NUL-terminated, when getpwnam_r succeeded.
    let home = unsafe { std::ffi::CStr::from_ptr(pw.pw_dir) }
        .to_string_lossy()
        .into_owned();
    Ok(Some((pw.pw_uid, pw.pw_gid, home)))
}

fn getgrnam(name: &str) -> Result<Option<libc::gid_t>, String> {
    let cname = CString::new(name).map_err(|_| format!("no such group `{name}`"))?;
    let mut buf = vec![0 as libc::c_char; 65536];
    // SAFETY: an all-zero group is a valid out-parameter for getgrnam_r.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call.
    let rc = unsafe {
        libc::getgrnam_r(
            cname.as_ptr(),
            &mut gr,
            buf.as_mut_ptr(),
            buf.len(),
            &mut out,
        )
    };
    if rc != 0 {
        return Err(format!(
            "cannot look up group `{name}`: {}",
            io::Error::from_raw_os_error(rc)
        ));
    }
    Ok((!out.is_null()).then_some(gr.gr_gid))
}

fn getgrouplist(user: &str, gid: libc::gid_t) -> Result<Vec<libc::gid_t>, String> {
    let cname = CString::new(user).map_err(|_| format!("no such user `{user}`"))?;
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let asked = n;
        // SAFETY: groups has room for n entries; getgrouplist updates n.
        let rc = unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 0 {
            groups.truncate(n.max(0) as usize);
            return Ok(groups);
        }
        if n <= asked {
            n = asked * 2;
        }
        if n > 65536 {
            return Err(format!("cannot list the groups of `{user}`"));
        }
    }
}

/// What the child needs, prepared before the fork.
struct ChildSetup {
    creds: Option<Credentials>,
    cgroup_procs: Vec<CString>,
}

impl ChildSetup {
    /// Runs in the child between fork and exec: only async-signal-safe calls.
    fn apply(&self) -> io::Result<()> {
        clean_signal_slate()?;
        // SAFETY: setsid/open/write/close/setgroups/setgid/setuid are async-signal-safe, and
        // every pointer passed was allocated before the fork.
        unsafe {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for path in &self.cgroup_procs {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                let ok = libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
                libc::close(fd);
                if !ok {
                    return Err(io::Error::last_os_error());
                }
            }
            if let Some(c) = &self.creds
                && (libc::setgroups(c.groups.len(), c.groups.as_ptr()) != 0
                    || libc::setgid(c.gid) != 0
                    || libc::setuid(c.uid) != 0)
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// Gives the calling process the signal state a program expects at its start, as systemd
/// does: every signal's disposition back to its default and an empty signal mask. Without it
/// a program started by a supervisor that was itself started with a signal ignored (a shell's
/// background job ignores SIGINT, `nohup` ignores SIGHUP) inherits the ignored signal, and a
/// stop by that signal silently falls through to SIGKILL. Async-signal-safe (`sigaction`,
/// `sigprocmask` only): meant for `pre_exec`, where handlers set by the parent (which `exec`
/// would reset anyway) and ignored dispositions (which `exec` keeps) are both reset.
pub fn clean_signal_slate() -> io::Result<()> {
    /// The kernel's `struct sigaction` (x86_64 and aarch64 share this layout).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    // The raw system call, not the C library's `sigaction`: glibc refuses its two reserved
    // real-time signals (32 and 33), and an ignored 32 is inherited like any other.
    for signal in 1..=64 {
        // SAFETY: rt_sigaction with a valid struct and a null old-action pointer; SIGKILL and
        // SIGSTOP answer EINVAL, which is expected and harmless.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                signal,
                &default as *const KernelSigaction,
                std::ptr::null_mut::<KernelSigaction>(),
                std::mem::size_of::<u64>(),
            );
        }
    }
    // SAFETY: sigemptyset/sigprocmask on a stack value; both async-signal-safe.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The `PATH` every supervised program starts with (the spec's `env` may replace it).
pub const CLEAN_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The only variables taken from the supervisor's own environment: how text and times are
/// shown, nothing that changes what runs or where it finds its files.
pub const PASSED_ENV: [&str; 3] = ["LANG", "LC_ALL", "TZ"];

/// `/bin/sh -c <cmd>` with a clean environment: [`CLEAN_PATH`], the [`PASSED_ENV`] variables
/// the supervisor has, `USER`/`LOGNAME`/`HOME` of the spec's user, then the spec's `env`.
fn shell(cmd: &str, spec: &ProgramSpec, creds: &Option<Credentials>) -> Command {
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .env_clear()
        .env("PATH", CLEAN_PATH);
    for name in PASSED_ENV {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    if let Some(dir) = &spec.workdir {
        command.current_dir(dir);
    }
    if let Some(c) = creds.as_ref().filter(|c| !c.name.is_empty()) {
        command
            .env("USER", &c.name)
            .env("LOGNAME", &c.name)
            .env("HOME", &c.home);
    }
    command.envs(spec.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))));
    command
}

/// Starts the program detached. The caller reaps it through the returned [`Child`].
pub fn spawn_program(
    spec: &ProgramSpec,
    creds: &Option<Credentials>,
    cgroup_procs: Vec<CString>,
) -> io::Result<Child> {
    // A simple command replaces the shell, so the watched pid is the program itself.
    let simple = !spec
        .start
        .contains([';', '&', '|', '<', '>', '(', '`', '$', '\n']);
    let start = if simple && !spec.start.trim_start().starts_with("exec ") {
        format!("exec {}", spec.start)
    } else {
        spec.start.clone()
    };
    let mut command = shell(&start, spec, creds);
    match &spec.log {
        Some(path) => {
            let log = OpenOptions::new().create(true).append(true).open(path)?;
            command.stdout(log.try_clone()?).stderr(log);
        }
        None => {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let setup = ChildSetup {
        creds: creds.clone(),
        cgroup_procs,
    };
    // SAFETY: the closure only calls async-signal-safe functions (ChildSetup::apply).
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    command.kill_on_drop(false).spawn()
}

/// Runs a short shell command (precheck, check) as the program would run, stdio to the
/// program's log or /dev/null; `Ok(())` when it exits 0 within `timeout`.
pub async fn run_command(
    cmd: &str,
    spec: &ProgramSpec,
    creds: &Option<Credentials>,
    timeout: Duration,
    pid: Option<u32>,
) -> Result<(), String> {
    let mut command = shell(cmd, spec, creds);
    command.stdout(Stdio::null()).stderr(Stdio::null());
    if let Some(log) = spec
        .log
        .as_ref()
        .and_then(|p| OpenOptions::new().create(true).append(true).open(p).ok())
    {
        if let Ok(copy) = log.try_clone() {
            command.stdout(copy);
        }
        command.stderr(log);
    }
    if let Some(pid) = pid {
        command.env("SUPERVISE_PID", pid.to_string());
    }
    let setup = ChildSetup {
        creds: creds.clone(),
        cgroup_procs: vec![],
    };
    // SAFETY: the closure only calls async-signal-safe functions (ChildSetup::apply).
    unsafe {
        command.pre_exec(move || setup.apply());
    }
    let mut child = command
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("`{cmd}`: {e}"))?;
    let pgid = child.id();
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(format!("`{cmd}` failed: {status}")),
        Ok(Err(e)) => Err(format!("`{cmd}`: {e}")),
        Err(_) => {
            if let Some(pgid) = pgid {
                kill_group(pgid, libc::SIGKILL);
            }
            let _ = child.wait().await;
            Err(format!(
                "`{cmd}` timed out after {} s",
                timeout.as_secs_f64()
            ))
        }
    }
}

/// Sends `signal` to the process group `pgid` (never to groups 0 or 1 or our own).
pub fn kill_group(pgid: u32, signal: i32) {
    // SAFETY: getpgrp/killpg have no memory effects.
    let own = unsafe { libc::getpgrp() } as u32;
    if pgid > 1 && pgid != own {
        // SAFETY: as above.
        unsafe { libc::killpg(pgid as libc::pid_t, signal) };
    }
}

/// Sends `signal` to the process `pid` (never to 0, 1 or ourselves).
pub fn kill_pid(pid: u32, signal: i32) {
    if pid > 1 && pid != std::process::id() {
        // SAFETY: kill has no memory effects.
        unsafe { libc::kill(pid as libc::pid_t, signal) };
    }
}
