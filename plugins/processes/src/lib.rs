//! `getinfo.processes`: the running processes as `ps -eo pid,ppid,user,stat,rss,vsz,nlwp,time,lstart,args` sees them, with filters; read role: collectd's processes plugin.
//! Files read: `/proc/<pid>/{stat,status,cmdline,io}`, `/proc/stat` (btime, processes) and `/etc/passwd` (user names).

mod passwd;
mod procfs;
mod read;

use std::fs;
use std::path::PathBuf;

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, OptionSpec, Plugin, PluginError};
use serde_json::{Value, json};

use passwd::Users;
use procfs::{Process, Units};

/// The plugin instance: where to read `/proc` and `/etc` from, and the read role's state.
pub struct Processes {
    proc_root: PathBuf,
    etc_root: PathBuf,
    read: read::ProcessesRead,
}

/// The order of the answer (`-s`).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum SortKey {
    /// Ascending pid.
    #[default]
    Pid,
    /// Largest resident memory first.
    Rss,
    /// Most CPU time first.
    Cpu,
}

/// The parsed `-a` arguments; the filters combine (a process must pass all of them).
#[derive(Debug, Default, PartialEq)]
struct Options {
    /// `-p <pid>`, repeatable: only these processes.
    pids: Vec<u32>,
    /// `-u <user>`: only processes whose effective user is this name or uid.
    user: Option<String>,
    /// `-n <text>`: only processes whose command or command line contains this text.
    name: Option<String>,
    /// `-s rss|cpu|pid`.
    sort: SortKey,
    /// `-l <N>`: at most N processes (after sorting).
    limit: Option<usize>,
}

impl Plugin for Processes {
    const NAME: &'static str = "processes";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str =
        "running processes: owner, state, memory, CPU time, command line";
    const OPTIONS: &'static [OptionSpec] = &[OptionSpec::string(
        "Process",
        "a command name to report on, as ps -o comm shows it (max. 15 bytes)",
    )
    .repeated()];

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Processes {
            proc_root: ctx.proc_root(),
            etc_root: ctx.etc_root(),
            read: read::ProcessesRead::from_options(ctx)?,
        })
    }
}

impl InfoPlugin for Processes {
    /// Arguments: `-p <pid>` (repeatable), `-u <user>`, `-n <text>`, `-s rss|cpu|pid`, `-l <N>`.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let opts = parse_args(args)?;
        let sysconf = |var, default| match nix::unistd::sysconf(var) {
            Ok(Some(v)) if v > 0 => v as u64,
            _ => default,
        };
        let ticks = sysconf(nix::unistd::SysconfVar::CLK_TCK, 100);
        let page_size = sysconf(nix::unistd::SysconfVar::PAGE_SIZE, 4096);
        self.report(&opts, ticks, page_size)
    }
}

impl Processes {
    /// Builds the answer with the given clock tick rate and page size.
    fn report(&self, opts: &Options, ticks: u64, page_size: u64) -> Result<Value, PluginError> {
        let mut unavailable = Vec::new();

        let passwd = self.etc_root.join("passwd");
        let users = match fs::read_to_string(&passwd) {
            Ok(text) => Users::parse(&text),
            Err(e) => {
                unavailable.push(format!("{}: {e}", passwd.display()));
                Users::default()
            }
        };
        let uid_filter = match &opts.user {
            Some(user) => Some(users.resolve(user).ok_or_else(|| {
                PluginError::invalid_params(format!("no user `{user}` in {}", passwd.display()))
            })?),
            None => None,
        };

        let proc_stat = self.proc_root.join("stat");
        let boot_time = fs::read_to_string(&proc_stat)
            .ok()
            .and_then(|t| procfs::parse_btime(&t));
        if boot_time.is_none() {
            unavailable.push(format!(
                "{}: no btime, start_time is null",
                proc_stat.display()
            ));
        }
        let units = Units {
            ticks_per_second: ticks,
            page_size,
            boot_time,
        };

        let pids = if opts.pids.is_empty() {
            procfs::list_pids(&self.proc_root).map_err(|e| {
                PluginError::failed(format!("cannot list {}: {e}", self.proc_root.display()))
            })?
        } else {
            let mut pids = opts.pids.clone();
            pids.sort_unstable();
            pids.dedup();
            pids
        };

        // A process that exits while we read it is simply not reported.
        let mut processes: Vec<Process> = pids
            .into_iter()
            .filter_map(|pid| procfs::read_process(&self.proc_root, pid, &units, &users))
            .filter(|p| uid_filter.is_none() || p.uid == uid_filter)
            .filter(|p| opts.name.as_deref().is_none_or(|n| matches_name(p, n)))
            .collect();
        sort(&mut processes, opts.sort);
        let matched = processes.len();
        if let Some(limit) = opts.limit {
            processes.truncate(limit);
        }

        let mut doc = json!({ "matched": matched, "processes": processes });
        if !unavailable.is_empty() {
            doc["unavailable"] = json!(unavailable);
        }
        Ok(doc)
    }
}

/// Whether the command name or the command line contains `needle`.
fn matches_name(p: &Process, needle: &str) -> bool {
    p.command.contains(needle) || p.cmdline.join(" ").contains(needle)
}

fn sort(processes: &mut [Process], key: SortKey) {
    match key {
        SortKey::Pid => processes.sort_by_key(|p| p.pid),
        SortKey::Rss => {
            processes.sort_by(|a, b| b.rss_bytes.cmp(&a.rss_bytes).then(a.pid.cmp(&b.pid)))
        }
        SortKey::Cpu => processes.sort_by(|a, b| {
            b.cpu_time_seconds
                .total_cmp(&a.cpu_time_seconds)
                .then(a.pid.cmp(&b.pid))
        }),
    }
}

fn parse_args(args: &str) -> Result<Options, PluginError> {
    let mut opts = Options::default();
    let mut parser = args::parser(args)?;
    while let Some(arg) = parser.next().map_err(args::invalid)? {
        match arg {
            Arg::Short('p') | Arg::Long("pid") => {
                let v = value(&mut parser)?;
                match v.parse::<u32>() {
                    Ok(pid) if pid > 0 => opts.pids.push(pid),
                    _ => return Err(bad("-p", &v, "a process id (a positive number)")),
                }
            }
            Arg::Short('u') | Arg::Long("user") => {
                let v = value(&mut parser)?;
                if v.is_empty() {
                    return Err(bad("-u", &v, "a user name or uid"));
                }
                opts.user = Some(v);
            }
            Arg::Short('n') | Arg::Long("name") => {
                let v = value(&mut parser)?;
                if v.is_empty() {
                    return Err(bad("-n", &v, "some text to look for"));
                }
                opts.name = Some(v);
            }
            Arg::Short('s') | Arg::Long("sort") => {
                let v = value(&mut parser)?;
                opts.sort = match v.as_str() {
                    "pid" => SortKey::Pid,
                    "rss" => SortKey::Rss,
                    "cpu" => SortKey::Cpu,
                    _ => return Err(bad("-s", &v, "one of rss, cpu, pid")),
                };
            }
            Arg::Short('l') | Arg::Long("limit") => {
                let v = value(&mut parser)?;
                match v.parse::<usize>() {
                    Ok(n) if n > 0 => opts.limit = Some(n),
                    _ => return Err(bad("-l", &v, "a count of at least 1")),
                }
            }
            other => return Err(args::unexpected(other)),
        }
    }
    Ok(opts)
}

/// The value of the option just read.
fn value(parser: &mut args::lexopt::Parser) -> Result<String, PluginError> {
    Ok(parser
        .value()
        .map_err(args::invalid)?
        .to_string_lossy()
        .into_owned())
}

fn bad(flag: &str, value: &str, wanted: &str) -> PluginError {
    PluginError::invalid_params(format!("{flag} wants {wanted}, not `{value}`"))
}

plugin_api::export_plugin!(Processes, roles: [info, read]);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture() -> Processes {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        Processes::init(&InitContext::rooted_at(&base)).unwrap()
    }

    fn run(args: &str) -> Result<Value, PluginError> {
        fixture().report(&parse_args(args)?, 100, 4096)
    }

    fn pids(doc: &Value) -> Vec<u64> {
        doc["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect()
    }

    #[test]
    fn parses_arguments() {
        let o = parse_args("-p 1 -p 42 -u root -n 'tmux new' -s rss -l 5").unwrap();
        assert_eq!(o.pids, [1, 42]);
        assert_eq!(o.user.as_deref(), Some("root"));
        assert_eq!(o.name.as_deref(), Some("tmux new"));
        assert_eq!(o.sort, SortKey::Rss);
        assert_eq!(o.limit, Some(5));
        for bad in [
            "-p x", "-p 0", "-p -3", "-s mem", "-l 0", "-l -1", "-u ''", "-q", "-p", "word",
        ] {
            let err = parse_args(bad).unwrap_err();
            assert_eq!(err.code, 3021, "{bad}");
        }
        assert!(
            parse_args("-s mem")
                .unwrap_err()
                .message
                .contains("rss, cpu, pid")
        );
    }

    #[test]
    fn lists_every_process_by_pid() {
        let doc = run("").unwrap();
        assert_eq!(pids(&doc), [1, 2, 4242, 31337]);
        assert_eq!(doc["matched"], 4);
        let init = &doc["processes"][0];
        assert_eq!(init["command"], "systemd");
        assert_eq!(init["cmdline"], json!(["/sbin/init", "splash"]));
        assert_eq!(init["user"], "root");
        assert_eq!(init["rss_bytes"], 12_800 * 1024);
        assert_eq!(init["threads"], 1);
        assert_eq!(init["start_time"], 1_700_000_000u64);
        assert!(doc.get("unavailable").is_none());
    }

    #[test]
    fn filters_combine() {
        assert_eq!(pids(&run("-p 4242 -p 1 -p 77777").unwrap()), [1, 4242]);
        assert_eq!(pids(&run("-u alice").unwrap()), [4242]);
        assert_eq!(pids(&run("-u 0").unwrap()), [1, 2]);
        assert_eq!(pids(&run("-u 4321").unwrap()), [31337]);
        assert_eq!(pids(&run("-n 'work session'").unwrap()), [4242]);
        assert_eq!(pids(&run("-n kthread").unwrap()), [2]);
        assert_eq!(pids(&run("-u root -n init").unwrap()), [1]);
        assert_eq!(pids(&run("-u alice -n init").unwrap()), Vec::<u64>::new());
        let err = run("-u nosuchuser").unwrap_err();
        assert_eq!(err.code, 3021);
        assert!(err.message.contains("nosuchuser"), "{}", err.message);
    }

    #[test]
    fn sorts_and_limits() {
        assert_eq!(pids(&run("-s rss").unwrap()), [1, 4242, 2, 31337]);
        assert_eq!(pids(&run("-s cpu").unwrap()), [1, 4242, 31337, 2]);
        let doc = run("-s rss -l 2").unwrap();
        assert_eq!(pids(&doc), [1, 4242]);
        assert_eq!(doc["matched"], 4);
    }

    #[test]
    fn missing_passwd_and_btime_degrade() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        let p = Processes {
            proc_root: root.join("proc"),
            etc_root: root.join("nope"),
            read: read::ProcessesRead::default(),
        };
        let doc = p.report(&Options::default(), 100, 4096).unwrap();
        assert_eq!(doc["processes"][0]["user"], "0");
        assert_eq!(doc["unavailable"].as_array().unwrap().len(), 1, "{doc}");
        assert_eq!(
            p.report(&parse_args("-u root").unwrap(), 100, 4096)
                .unwrap_err()
                .code,
            3021
        );

        let none = Processes {
            proc_root: root.join("nope"),
            etc_root: root.join("etc"),
            read: read::ProcessesRead::default(),
        };
        assert_eq!(
            none.report(&Options::default(), 100, 4096)
                .unwrap_err()
                .code,
            3023
        );
    }
}
