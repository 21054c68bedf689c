//! The binaries the platform ships, each with its clap definition (from its crate's library, the
//! one its `main` parses) and what its man page says beyond the flags: summary, description,
//! files, environment, exit status, related pages. `man` and `completions` both walk [`ALL`].

use clap::CommandFactory as _;

/// One shipped binary.
pub struct Binary {
    /// The installed file name (`/usr/bin/<name>`), also the page's and the completion's name.
    pub name: &'static str,
    /// Its clap definition.
    definition: fn() -> clap::Command,
    /// The NAME line's summary (after `<name> \-`).
    pub summary: &'static str,
    /// The DESCRIPTION: what it does, beyond the one-line `--help` text.
    pub description: &'static str,
    /// FILES: (path, what it is).
    pub files: &'static [(&'static str, &'static str)],
    /// ENVIRONMENT beyond the variables clap already shows beside their flags: (name, meaning).
    pub environment: &'static [(&'static str, &'static str)],
    /// EXIT STATUS: (code, meaning).
    pub exit_status: &'static [(&'static str, &'static str)],
    /// SEE ALSO: `page(section)` references.
    pub see_also: &'static [&'static str],
}

impl Binary {
    /// The clap command, named as the binary is installed.
    pub fn command(&self) -> clap::Command {
        (self.definition)().bin_name(self.name)
    }
}

/// Exit codes of the programs that only say "done" or "failed".
const DONE_OR_FAILED: &[(&str, &str)] = &[
    ("0", "Done."),
    ("1", "Failed; the reason is printed on standard error."),
    ("2", "Wrong usage (unknown flag, missing argument)."),
];

/// Exit codes of the agents with `-t` (check the configuration and exit).
const AGENT_WITH_TEST: &[(&str, &str)] = &[
    (
        "0",
        "Stopped normally; with -t: the configuration is valid (prints Success).",
    ),
    (
        "1",
        "Start-up failed, the reason on standard error; with -t: the configuration is not \
         valid (prints Failed!!!, the reasons on standard error).",
    ),
    ("2", "Wrong usage."),
];

/// Every shipped binary, in the order of the platform overview (cargo(7)).
pub const ALL: &[Binary] = &[
    Binary {
        name: "polaris",
        definition: polaris::cli::Cli::command,
        summary: "the platform's central server",
        description: "Polaris serves the REST API (commands to many hosts, hosts, boot jobs, \
            metrics, the plugin catalogue and rollouts), the BootAgent protocol \
            (POST /agent/status, POST /agent/job/result), the TLS WebSocket listener gearman \
            agents connect to, and the package server under /packages/ (basic auth, autoindex, \
            uploads), which replaces nginx and vsftpd. It keeps its data in SQLite (the \
            default), MariaDB/MySQL or PostgreSQL, and holds the CA that enrolls hosts. Each \
            subcommand has its own page: polaris-serve(1), polaris-migrate(1), \
            polaris-check-config(1), polaris-enroll(1), polaris-dev(1).",
        files: &[(
            "/etc/cargo/polaris.toml",
            "The configuration (polaris.toml(5)).",
        )],
        environment: &[],
        exit_status: DONE_OR_FAILED,
        see_also: &[
            "polaris.toml(5)",
            "cargo(7)",
            "bootagent(1)",
            "gearman(1)",
            "nodus(1)",
        ],
    },
    Binary {
        name: "bootagent",
        definition: bootagent::cli::Cli::command,
        summary: "reports the host to Polaris and installs, upgrades and runs its agents",
        description: "The BootAgent is installed with the operating system. Every step \
            seconds it reports the host and its agents to Polaris (POST /agent/status); it \
            carries out the jobs in the answer (install, upgrade, uninstall, restart, stop, \
            config) one at a time and posts their results (POST /agent/job/result) until the \
            server has stored them. Packages are downloaded over http, https or ftp, checked \
            against their SHA-256 checksum (and their minisign signature when release_key is \
            set), unpacked beside the running version and switched to; an upgrade that fails \
            within upgrade_watch seconds is rolled back. Without -f it daemonises. With \
            --enroll it enrolls the host with the configured token (or renews its certificate \
            when due) and exits; -t checks the configuration, its CA and its release key, \
            prints Success or Failed!!! and exits (systemd's unit runs it before each start).",
        files: &[
            (
                "/etc/cargo/bootagent.conf",
                "The configuration (bootagent.conf(5)).",
            ),
            (
                "/var/lib/cargo/bootagent",
                "The default state_dir: installed agents, state.json, the results spool.",
            ),
            (
                "/var/lib/cargo/identity",
                "The default identity_dir: the host's key and certificate and the Polaris CA.",
            ),
            (
                "/var/log/cargo/bootagent.log",
                "The log when running as a daemon without -L.",
            ),
        ],
        environment: &[(
            "BOOTAGENT_LOG",
            "Log level: error, warn, info (default), debug or trace.",
        )],
        exit_status: AGENT_WITH_TEST,
        see_also: &["bootagent.conf(5)", "mkpkg(1)", "polaris(1)", "cargo(7)"],
    },
    Binary {
        name: "mkpkg",
        definition: bootagent::mkpkg_cli::Cli::command,
        summary: "writes and signs BootAgent packages",
        description: "mkpkg writes the .tar.gz packages (with their manifest.toml) that the \
            BootAgent installs, and prints `<file> SHA256:<hex>`, ready for a job's checksum. \
            mkpkg agent packs gearman, nodus, logagent or secureagent from a build folder with its \
            plugins and example configuration (and secureagent's rules); mkpkg pack packs any program; mkpkg keygen makes a minisign key pair \
            and prints the BootAgent's release_key line; mkpkg sign signs any other release \
            file, such as a plugin for gearman. With --sign, <package>.minisig is written \
            beside the package. Each subcommand has its own page: mkpkg-agent(1), \
            mkpkg-pack(1), mkpkg-keygen(1), mkpkg-sign(1).",
        files: &[],
        environment: &[],
        exit_status: DONE_OR_FAILED,
        see_also: &[
            "bootagent(1)",
            "bootagent.conf(5)",
            "minisign(1)",
            "cargo(7)",
        ],
    },
    Binary {
        name: "gearman",
        definition: gearman::cli::Cli::command,
        summary: "the BasicAgent: runs the commands, tasks, cron entries and daemons Polaris sends",
        description: "gearman resolves its servers (config.cargo.com by default; a hosts_file \
            is read before DNS), sends init (following a redirect answer) and holds a mutually \
            authenticated TLS WebSocket to Polaris. It runs what it is sent: shell commands \
            (sync.bash), detached tasks (async.bash, task.*), cron entries with seconds \
            (cron.*), long-running daemons (daemon.*), host information from its info plugins \
            (getinfo.*) and plugin management (plugin.*); cargo-exec(5) describes the formats. \
            Results are kept in gearman.db until Polaris acknowledges them. gearctl(1) reaches \
            the running agent through its local socket. Without -f it daemonises. -t checks \
            the configuration, the certificates and the release key, prints Success or \
            Failed!!! and exits (systemd's unit runs it before each start).",
        files: &[
            (
                "/etc/cargo/gearman.conf",
                "The configuration (gearman.conf(5)).",
            ),
            (
                "/var/lib/cargo/gearman/gearman.db",
                "Tasks, cron entries, daemons and results not yet acknowledged (SQLite).",
            ),
            (
                "/var/run/cargo/gearman.sock",
                "The local socket gearctl(1) talks to.",
            ),
            ("/usr/lib/cargo/gearman", "The info plugins (getinfo.*)."),
            (
                "/var/log/cargo/gearman.log",
                "The log when running as a daemon without -L.",
            ),
        ],
        environment: &[
            (
                "GEARMAN_PLUGIN_DIR",
                "Plugin folder when the configuration sets no plugin_dir.",
            ),
            (
                "GEARMAN_LOG",
                "Log level: error, warn, info (default), debug or trace.",
            ),
        ],
        exit_status: AGENT_WITH_TEST,
        see_also: &["gearman.conf(5)", "cargo-exec(5)", "gearctl(1)", "cargo(7)"],
    },
    Binary {
        name: "gearctl",
        definition: gearctl::cli::Cli::command,
        summary: "runs gearman's plugins and methods from the command line",
        description: "gearctl -c getinfo.<name> [-a <arguments>] loads the info plugin itself \
            and prints the result object (resp, retcode, message, data) as one line of JSON, \
            the object Polaris returns per host, e.g. gearctl -c getinfo.users -a \"-U root\". \
            Every other method (sync.bash, async.bash, task.*, cron.*, daemon.*, plugin.*) is \
            checked here and then sent to the running gearman over its local socket, e.g. \
            gearctl -c sync.bash --cmd ls, or gearctl -c cron.add -a \"*/10 * * * * *\" --cmd \
            date; an unknown method (3022) or a bad parameter (3021) is answered without \
            asking the agent. gearctl -l lists the host's plugins, gearman's and nodus's, with \
            version and state.",
        files: &[
            (
                "/var/run/cargo/gearman.sock",
                "The running gearman's local socket.",
            ),
            (
                "/usr/lib/cargo/gearman",
                "The info plugins getinfo.* loads.",
            ),
        ],
        environment: &[("GEARMAN_PLUGIN_DIR", "Plugin folder when -d is not given.")],
        exit_status: &[
            ("0", "The method succeeded (resp is \"success\")."),
            (
                "1",
                "The method failed; its result object is printed all the same.",
            ),
            ("2", "Wrong usage."),
            ("3", "No running gearman answered on the socket."),
            ("4", "Permission denied by the socket or the agent."),
        ],
        see_also: &["gearman(1)", "cargo-exec(5)", "nodusctl(1)", "cargo(7)"],
    },
    Binary {
        name: "nodus",
        definition: nodus::cli::Cli::command,
        summary: "the metrics agent: collectd-style read and write plugins",
        description: "nodus runs each read plugin on its own interval, checks every value list \
            against types.db, and hands it to each write plugin through that plugin's own \
            bounded queue. A read that fails or times out is suspended for a doubling \
            interval, up to max_read_interval. -t checks the configuration (plugins loaded and \
            initialised) and prints Success or Failed!!!. -T runs every read plugin once and \
            prints one line per plugin, `<time>/<interval> <plugin>(<values \
            collected>/<values in types.db>) <v1>/<type1> ...`, e.g. `1511965574.110/10.000 \
            load(3/3) 2.71/G 2.53/G 2.43/G`; write plugins are not called. nodusctl(1) \
            controls the running agent. Without -f it daemonises.",
        files: &[
            (
                "/etc/cargo/nodus.conf",
                "The configuration (nodus.conf(5)).",
            ),
            ("/usr/lib/cargo/nodus", "The read and write plugins."),
            (
                "/usr/share/cargo/nodus/types.db",
                "The data sets every value is checked against.",
            ),
            (
                "/var/run/cargo/nodus.sock",
                "The control socket nodusctl(1) talks to.",
            ),
            (
                "/var/lib/cargo/nodus/state/managed.json",
                "Plugins installed and options set through the control socket.",
            ),
            (
                "/var/log/cargo/nodus.log",
                "The log when running as a daemon without -L.",
            ),
        ],
        environment: &[
            (
                "NODUS_PLUGIN_DIR",
                "Plugin folder when the configuration sets no plugin_dir.",
            ),
            (
                "NODUS_LOG",
                "Log level, over the configuration's log_level.",
            ),
        ],
        exit_status: &[
            (
                "0",
                "Stopped normally; with -t: the configuration is valid (prints Success).",
            ),
            (
                "1",
                "Start-up failed; with -t: the configuration is not valid (prints Failed!!!); \
                 with -T: a read failed.",
            ),
            ("2", "Wrong usage."),
        ],
        see_also: &["nodus.conf(5)", "nodusctl(1)", "cargo(7)", "types.db(5)"],
    },
    Binary {
        name: "nodusctl",
        definition: nodusctl::cli::Cli::command,
        summary: "controls the plugins of a running nodus",
        description: "nodusctl talks to nodus over its control socket: nodusctl plugin list | \
            start <p> | stop <p> | remove <p> | load <path> | install <path> [--as <name>], \
            where <p> names a plugin instance (http/primary, or cpu for a plugin that runs \
            once). nodusctl --json plugin list also gives each plugin's option schema and the \
            options in force, secrets as \"***\".",
        files: &[(
            "/var/run/cargo/nodus.sock",
            "The running nodus's control socket.",
        )],
        environment: &[(
            "NODUS_TRACE",
            "Set to 1: every request and answer line is printed on standard error.",
        )],
        exit_status: &[
            ("0", "Done."),
            (
                "1",
                "The agent refused (unknown plugin, init failed, a file outside its plugin \
                 folder, an install whose new instances did not answer).",
            ),
            ("2", "Wrong usage."),
            ("3", "No agent listening on the socket."),
            (
                "4",
                "Permission denied: by the socket file, or the agent answers only root, its own \
                 user and its socket_group.",
            ),
        ],
        see_also: &["nodus(1)", "nodus.conf(5)", "gearctl(1)", "cargo(7)"],
    },
    Binary {
        name: "logagent",
        definition: logagent::cli::Cli::command,
        summary: "the log agent: ships log files to Polaris, no line lost and none twice",
        description: "logagent tails the files of each configured source (a path or a glob, \
            new files picked up), follows rotation by rename and by copytruncate, joins \
            multiline records, parses each record in its source's format (line, json, syslog, \
            regex, nginx, apache) and posts batches to Polaris (POST /api/v1/logs) over mutual \
            TLS with the host's certificate. A file's offset is committed to its SQLite state \
            only after Polaris has acknowledged the batch, and Polaris stores each (host, \
            source, file, offset) once. While Polaris does not answer it stops reading and \
            keeps its place. logagentctl(1) shows its sources through its control socket. \
            Without -f it daemonises. -t checks the configuration and the Polaris client, \
            prints Success or Failed!!! and exits (systemd's unit runs it before each start); \
            -T reads every source once from its saved offsets, prints the records as JSON \
            lines and commits nothing.",
        files: &[
            (
                "/etc/cargo/logagent.conf",
                "The configuration (logagent.conf(5)).",
            ),
            (
                "/var/lib/cargo/logagent/logagent.db",
                "Offsets and file generations acknowledged by Polaris (SQLite).",
            ),
            (
                "/var/run/cargo/logagent.sock",
                "The control socket logagentctl(1) talks to.",
            ),
            (
                "/var/log/cargo/logagent.log",
                "The log when running as a daemon without -L.",
            ),
        ],
        environment: &[(
            "LOGAGENT_LOG",
            "Log level, over the configuration's log_level.",
        )],
        exit_status: &[
            (
                "0",
                "Stopped normally; with -t: the configuration is valid (prints Success); \
                 with -T: every source was read.",
            ),
            (
                "1",
                "Start-up failed, the reason on standard error; with -t: the configuration is \
                 not valid (prints Failed!!!, the reasons on standard error).",
            ),
            ("2", "Wrong usage."),
        ],
        see_also: &["logagent.conf(5)", "logagentctl(1)", "cargo(7)"],
    },
    Binary {
        name: "logagentctl",
        definition: logagentctl::cli::Cli::command,
        summary: "shows what a running logagent reads",
        description: "logagentctl asks a running logagent over its control socket and prints \
            its sources (files matched and open, bytes acknowledged, size, lag, state, bytes \
            lost to rotation, truncations, parse errors, records cut, the last error) or, with \
            files, each file generation (acknowledged offset, bytes read, size, lag, open, \
            gone). --json prints the agent's whole answer.",
        files: &[(
            "/var/run/cargo/logagent.sock",
            "The running logagent's control socket.",
        )],
        environment: &[],
        exit_status: &[
            ("0", "Done."),
            ("1", "The agent's answer was an error or could not be read."),
            ("2", "Wrong usage."),
            ("3", "No agent listening on the socket."),
        ],
        see_also: &["logagent(1)", "logagent.conf(5)", "cargo(7)"],
    },
    Binary {
        name: "secureagent",
        definition: secureagent::cli::Cli::command,
        summary: "the integrity agent: checks files and folders like AIDE and reports to Polaris",
        description: "secureagent reads its rules in AIDE's syntax (selection lines, negative \
            and equals rules, groups such as R, L and >; secureagent.conf(5)), walks the \
            selected tree and hashes its files in parallel, and with --init writes the \
            baseline (0600, in a 0700 folder) and its SHA-256 digest; --check compares the \
            tree with the baseline and prints what was added, removed and changed, attribute \
            by attribute, as AIDE does (--json: as JSON); --update checks, then makes the \
            current state the baseline. Logs selected as growing may only grow. Each run's \
            report, with the digest of the baseline it used, is posted to Polaris \
            (POST /api/v1/integrity/reports) over mutual TLS with the host's certificate, or \
            kept beside the baseline until Polaris takes it; Polaris flags a check of any \
            baseline but the one it accepted. With no verb it is the daemon: it checks on the \
            configured schedule, never two runs at once (a CLI run and the daemon share the \
            baseline's lock), at a low CPU and I/O priority and an optional read-rate cap; \
            with --init-if-missing it first writes the baseline when there is none (the \
            BootAgent's package does so). Without -f the daemon detaches. The agent's own \
            baseline, log and PID file are never findings. -t checks the configuration and \
            the rules, prints each rule, then Success or Failed!!! (systemd's unit runs it \
            before each start).",
        files: &[
            (
                "/etc/cargo/secureagent.conf",
                "The configuration (secureagent.conf(5)).",
            ),
            (
                "/etc/cargo/secureagent.rules",
                "The rules, in AIDE's syntax (secureagent.conf(5)).",
            ),
            (
                "/var/lib/cargo/secureagent/baseline.db",
                "The baseline; beside it baseline.db.sha256 (its digest, as sha256sum -c reads \
                 it), baseline.db.lock (the run lock) and report-*.json (reports Polaris has \
                 not taken yet).",
            ),
            (
                "/var/log/cargo/secureagent.log",
                "The log when running as a daemon without -L.",
            ),
        ],
        environment: &[(
            "SECUREAGENT_LOG",
            "Log level, over the configuration's log_level.",
        )],
        exit_status: &[
            (
                "0",
                "No differences (--check, --update), the baseline written (--init), the daemon \
                 stopped normally, or with -t: the configuration and rules are valid.",
            ),
            (
                "1 to 7",
                "As AIDE: the sum of 1 (entries added), 2 (entries removed) and 4 (entries \
                 changed; an unreadable entry counts as changed). With -t, 1: the \
                 configuration or the rules are not valid (prints Failed!!!). The daemon \
                 exits 1 when it cannot start.",
            ),
            ("14", "The baseline cannot be written (AIDE's write error)."),
            ("15", "Wrong usage (AIDE's invalid argument error)."),
            (
                "17",
                "The configuration or the rules are not valid (AIDE's configuration error).",
            ),
            (
                "18",
                "The baseline (or the tree's root) cannot be read (AIDE's I/O error).",
            ),
            (
                "20",
                "Another secureagent run holds the baseline's lock (secureagent's own; AIDE has \
                 no lock).",
            ),
        ],
        see_also: &[
            "secureagent.conf(5)",
            "aide(1)",
            "aide.conf(5)",
            "bootagent(1)",
            "cargo(7)",
        ],
    },
];
