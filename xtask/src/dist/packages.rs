//! What each Debian package holds and where, on the design document's paths: binaries in
//! `/usr/bin`, plugins in `/usr/lib/cargo/<agent>/`, `types.db` in `/usr/share/cargo/nodus/`,
//! configurations in `/etc/cargo/` (conffiles), systemd units, man pages and completions.
//! Plugins are sorted to agents by the roles they declare (loaded through the plugin loader),
//! never by name.

use plugin_api::Roles;

/// One Debian package.
pub struct Package {
    /// Package name. Prefixed `polaris-`: Debian already has a `gearman` (the job server, whose
    /// `gearman-tools` also ships `/usr/bin/gearman`) and a `cargo` (Rust's).
    pub name: &'static str,
    /// The control file's one-line summary.
    pub summary: &'static str,
    /// The long description (plain lines; the control file's indentation is added).
    pub description: &'static str,
    /// Binaries from the build folder, installed in `/usr/bin`.
    pub binaries: &'static [&'static str],
    /// Plugins of these roles, into `/usr/lib/cargo/<agent>/`.
    pub plugins: Option<(&'static [Roles], &'static str)>,
    /// The configuration: (file in the repository, installed name under `/etc/cargo/`, lines
    /// of the example replaced for the packaged service: (old, new), each must be found).
    pub config: Option<Config>,
    /// Other files: (file in the repository, installed path); those under `etc/` are
    /// conffiles.
    pub data: &'static [(&'static str, &'static str)],
    /// The systemd unit in `packaging/systemd/`, if the package runs a service.
    pub unit: Option<&'static str>,
    /// The system user (and group of that name) the service runs as, made by `postinst`.
    pub user: Option<&'static str>,
    /// `Conflicts:` (packages shipping the same paths).
    pub conflicts: &'static str,
    /// Hand-written man pages (names under `docs/man/`, beside the generated section-1 pages).
    pub man_pages: &'static [&'static str],
}

/// A shipped configuration file.
pub struct Config {
    /// Its source in the repository.
    pub source: &'static str,
    /// Its name under `/etc/cargo/`.
    pub name: &'static str,
    /// Lines of the example that the packaged service needs otherwise: (old, new).
    pub replace: &'static [(&'static str, &'static str)],
}

/// Where nodus's control socket is when nodus runs under systemd as its own user: in its own
/// runtime folder (`RuntimeDirectory=cargo/nodus`), which that user may write.
#[cfg(test)]
const NODUS_SOCKET: &str = "/run/cargo/nodus/nodus.sock";

/// Every package `xtask dist` builds.
pub const PACKAGES: &[Package] = &[
    Package {
        name: "polaris",
        summary: "central server of the Polaris host-operations platform",
        description: "Polaris serves the REST API (one command to many hosts, one result per \
host), links the hosts' gearman agents over mutual TLS, answers the BootAgents, serves \
packages and plugin releases, and receives metrics. SQLite is embedded; MariaDB and \
PostgreSQL serve larger fleets and several replicas.\n\
This package also holds mkpkg, which packs and signs agent packages.",
        binaries: &["polaris", "mkpkg"],
        plugins: None,
        config: Some(Config {
            source: "server/polaris.toml",
            name: "polaris.toml",
            replace: &[],
        }),
        data: &[],
        unit: Some("polaris.service"),
        user: Some("polaris"),
        conflicts: "",
        man_pages: &["polaris.toml.5"],
    },
    Package {
        name: "polaris-bootagent",
        summary: "installs and keeps running the agents of the Polaris platform",
        description: "The BootAgent reports the host's agents to Polaris and runs its jobs: \
install, upgrade (with rollback when the new version does not stay up), restart and stop, \
from signed tarballs or Debian packages.",
        binaries: &["bootagent"],
        plugins: None,
        config: Some(Config {
            source: "host/bootagent/bootagent.conf",
            name: "bootagent.conf",
            replace: &[],
        }),
        data: &[],
        unit: Some("bootagent.service"),
        user: None,
        conflicts: "",
        man_pages: &["bootagent.conf.5", "cargo.7"],
    },
    Package {
        name: "polaris-gearman",
        summary: "command agent of the Polaris platform (BasicAgent)",
        description: "gearman runs Polaris's commands (sync, async, cron with seconds), \
answers getinfo.* through its info plugins, supervises daemons and installs plugins, over an \
authenticated TLS link. gearctl is its local control tool.",
        binaries: &["gearman", "gearctl"],
        plugins: Some((&[Roles::INFO], "gearman")),
        config: Some(Config {
            source: "host/gearman/gearman.conf",
            name: "gearman.conf",
            replace: &[(
                "# nodus_socket = \"/var/run/cargo/nodus.sock\"",
                "nodus_socket = \"/run/cargo/nodus/nodus.sock\"   # polaris-nodus's",
            )],
        }),
        data: &[],
        unit: Some("gearman.service"),
        user: None,
        conflicts: "gearman-tools",
        man_pages: &["gearman.conf.5", "cargo-exec.5"],
    },
    Package {
        name: "polaris-nodus",
        summary: "metrics agent of the Polaris platform (MonitorAgent)",
        description: "nodus collects metrics like collectd: read plugins (cpu, load, memory, \
interfaces, disks, processes...) and write plugins (http to Polaris, csv, Prometheus), with \
collectd's types.db. nodusctl is its local control tool.",
        binaries: &["nodus", "nodusctl"],
        plugins: Some((&[Roles::READ, Roles::WRITE], "nodus")),
        config: Some(Config {
            source: "host/nodus/nodus.conf",
            name: "nodus.conf",
            replace: &[(
                "socket = \"/var/run/cargo/nodus.sock\"",
                "socket = \"/run/cargo/nodus/nodus.sock\"   # the unit's RuntimeDirectory",
            )],
        }),
        data: &[("types.db", "usr/share/cargo/nodus/types.db")],
        unit: Some("nodus.service"),
        user: Some("nodus"),
        conflicts: "",
        man_pages: &["nodus.conf.5"],
    },
    Package {
        name: "polaris-logagent",
        summary: "log agent of the Polaris platform (LogAgent)",
        description: "logagent tails log files (paths and globs, rotation by rename or \
copytruncate, multiline records), parses them (line, JSON, syslog, regex, nginx and Apache \
combined) and ships them to Polaris over mutual TLS, committing its offsets only once Polaris \
has acknowledged them: no line lost and none twice. logagentctl shows its sources, offsets \
and lag.",
        binaries: &["logagent", "logagentctl"],
        plugins: None,
        config: Some(Config {
            source: "host/logagent/logagent.conf",
            name: "logagent.conf",
            replace: &[],
        }),
        data: &[],
        unit: Some("logagent.service"),
        user: None,
        conflicts: "",
        man_pages: &["logagent.conf.5"],
    },
    Package {
        name: "polaris-secureagent",
        summary: "file integrity agent of the Polaris platform (SecureAgent)",
        description: "secureagent checks the integrity of files and folders like AIDE, with \
AIDE's rules syntax, verbs (--init, --check, --update) and exit codes: permissions, owners, \
inodes, sizes, times, ACLs, extended attributes, SELinux contexts, capabilities and \
sha256/sha512/blake3 hashes, logs that may only grow. The tree is walked and hashed in \
parallel at a low CPU and I/O priority, never two runs at once. The baseline's digest goes \
to Polaris with every report, so a baseline swapped on the host is flagged there.",
        binaries: &["secureagent"],
        plugins: None,
        config: Some(Config {
            source: "host/secureagent/secureagent.conf",
            name: "secureagent.conf",
            replace: &[],
        }),
        // The rules are a conffile too (every data file under etc/ is one).
        data: &[(
            "host/secureagent/secureagent.rules",
            "etc/cargo/secureagent.rules",
        )],
        unit: Some("secureagent.service"),
        user: None,
        conflicts: "",
        man_pages: &["secureagent.conf.5"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_packaged_socket_paths_agree() {
        let gearman = PACKAGES
            .iter()
            .find(|p| p.name == "polaris-gearman")
            .unwrap();
        let nodus = PACKAGES.iter().find(|p| p.name == "polaris-nodus").unwrap();
        for package in [gearman, nodus] {
            let config = package.config.as_ref().unwrap();
            assert!(
                config
                    .replace
                    .iter()
                    .any(|(_, new)| new.contains(NODUS_SOCKET))
            );
        }
    }
}
