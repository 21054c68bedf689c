//! What /proc says about a task's runner: whether a pid is still the same process (start time,
//! field 22 of `/proc/<pid>/stat`), and which processes are left in its session.

use std::fs;

/// Fields of `/proc/<pid>/stat` after the command name: state is index 0, so field N of
/// proc(5) is index N - 3.
fn stat_fields(pid: i32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself contain spaces or parentheses.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The start time of `pid` in clock ticks since boot (field 22), if it exists.
pub(crate) fn start_time(pid: i32) -> Option<i64> {
    stat_fields(pid)?.get(22 - 3)?.parse().ok()
}

/// Whether `pid` is alive (not a zombie) and, when `start` is known, still the process that
/// started then.
pub(crate) fn is_alive(pid: i32, start: Option<i64>) -> bool {
    let Some(fields) = stat_fields(pid) else {
        return false;
    };
    let state_ok = fields.first().is_some_and(|s| s != "Z" && s != "X");
    let start_ok = match start {
        Some(start) => fields.get(22 - 3).and_then(|s| s.parse::<i64>().ok()) == Some(start),
        None => true,
    };
    state_ok && start_ok
}

/// Sends `signal` to every live process of the session `sid` (the session a task's runner
/// created, so `sid` is the runner's pid). Nothing is sent when a different process than the
/// runner (`runner_start`) now holds that pid as a session leader. Returns how many were
/// signalled.
pub(crate) fn signal_session(sid: i32, runner_start: Option<i64>, signal: i32) -> usize {
    if sid <= 1 || sid == std::process::id() as i32 {
        return 0;
    }
    if let (Some(start), Some(now)) = (runner_start, start_time(sid))
        && start != now
    {
        return 0;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id() as i32;
    let mut sent = 0;
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Some(fields) = stat_fields(pid) else {
            continue;
        };
        // Field 6 is the session id.
        let in_session = fields.get(6 - 3).and_then(|s| s.parse::<i32>().ok()) == Some(sid);
        let live = fields.first().is_some_and(|s| s != "Z" && s != "X");
        if in_session && live && pid != me {
            // SAFETY: kill(2) on a pid read from /proc; no memory is involved.
            unsafe {
                libc::kill(pid, signal);
            }
            sent += 1;
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_with_its_own_start_time() {
        let me = std::process::id() as i32;
        let start = start_time(me);
        assert!(start.is_some());
        assert!(is_alive(me, start));
        assert!(!is_alive(me, start.map(|s| s + 1)));
        assert!(!is_alive(i32::MAX, None));
    }
}
