//! Agents shipped as OS packages: a job whose URL ends in `.deb` is installed with dpkg, one
//! ending in `.rpm` with rpm (refused where the host has no rpm). The package names its start
//! command itself ([`deb`]: `Polaris-Start` in its control file; [`rpm`]: a manifest in its
//! payload); the BootAgent writes that as the version folder's `manifest.toml` and keeps the
//! verified package file beside it (`package.deb`, `0600` in a `0700` folder), so the
//! supervisor, the upgrade watch, the report and a resume after a restart work exactly as for
//! a tarball, and a failed upgrade puts the previous version back from the kept file.
//!
//! Nothing half-done: when the package manager fails (lock held, a dependency missing, wrong
//! architecture), the previous version is put back with the kept file (or, for a first
//! install, the package is purged) and the package database is asked whether that worked; the
//! job's message says what the tool said and in which state the host is.

pub mod deb;
pub mod rpm;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::package::{MANIFEST, Manifest};
use crate::state::AgentRecord;

/// The `PATH` the package tools run with (and are looked up in): dpkg needs `ldconfig` and
/// `start-stop-daemon` from the `sbin` folders, whatever the BootAgent was started with.
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// An OS package format.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Debian's `.deb`, installed with dpkg.
    Deb,
    /// `.rpm`, installed with rpm.
    Rpm,
}

/// An agent installed as an OS package, as its [`AgentRecord`] keeps it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct OsPackage {
    /// Its format.
    pub format: Format,
    /// The package's own name in the package database (may differ from the agent's name).
    pub name: String,
}

/// What a downloaded package says it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Inspected {
    /// The package's name in the package database.
    pub package: String,
    /// How to run it; `version` is the package's version.
    pub manifest: Manifest,
}

/// Whether the package database has a package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OnHost {
    /// Not installed (or only its configuration files are left).
    Absent,
    /// Installed and configured, at this version.
    Installed(String),
    /// Half there (unpacked, half-configured, ...), as the database says it.
    Broken(String),
}

impl Format {
    /// The format of a package URL by its file name (`None`: a `.tar.gz` package).
    pub fn from_url(url: &str) -> Option<Format> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        if path.ends_with(".deb") {
            Some(Format::Deb)
        } else if path.ends_with(".rpm") {
            Some(Format::Rpm)
        } else {
            None
        }
    }

    /// `.deb` or `.rpm`, for messages.
    pub fn label(self) -> &'static str {
        match self {
            Format::Deb => ".deb",
            Format::Rpm => ".rpm",
        }
    }

    /// The kept package file's name in its version folder.
    pub fn kept_file(self) -> &'static str {
        match self {
            Format::Deb => "package.deb",
            Format::Rpm => "package.rpm",
        }
    }

    /// The programs this format needs.
    fn tools(self) -> &'static [&'static str] {
        match self {
            Format::Deb => &["dpkg", "dpkg-deb", "dpkg-query"],
            Format::Rpm => &["rpm", "rpm2cpio", "cpio"],
        }
    }

    /// Refuses the job (nothing done) when a program the format needs is not on this host.
    pub fn check_tools(self) -> Result<(), String> {
        self.check_tools_in(SYSTEM_PATH)
    }

    fn check_tools_in(self, search: &str) -> Result<(), String> {
        for tool in self.tools() {
            if locate(tool, search).is_none() {
                return Err(format!(
                    "{} packages need `{tool}`, which this host does not have (looked in \
                     {search}); nothing done",
                    self.label()
                ));
            }
        }
        Ok(())
    }

    /// Installs or upgrades to `file`.
    pub fn install_command(self, file: &Path) -> Vec<String> {
        let file = file.display().to_string();
        match self {
            // Changed configuration files are kept without asking (there is no terminal).
            Format::Deb => args(&["dpkg", "--install", "--force-confdef", "--force-confold"])
                .into_iter()
                .chain([file])
                .collect(),
            Format::Rpm => vec!["rpm".into(), "-U".into(), file],
        }
    }

    /// Installs `file`, which may be older than the installed version (a rollback).
    pub fn downgrade_command(self, file: &Path) -> Vec<String> {
        let file = file.display().to_string();
        match self {
            Format::Deb => args(&[
                "dpkg",
                "--install",
                "--force-downgrade",
                "--force-confdef",
                "--force-confold",
            ])
            .into_iter()
            .chain([file])
            .collect(),
            Format::Rpm => vec!["rpm".into(), "-U".into(), "--oldpackage".into(), file],
        }
    }

    /// Removes package `name` with its configuration.
    pub fn remove_command(self, name: &str) -> Vec<String> {
        match self {
            Format::Deb => args(&["dpkg", "--purge", name]),
            Format::Rpm => args(&["rpm", "-e", name]),
        }
    }

    /// Asks the package database about package `name` ([`Format::parse_query`] reads it).
    pub fn query_command(self, name: &str) -> Vec<String> {
        match self {
            Format::Deb => args(&["dpkg-query", "-W", "-f=${Status}\t${Version}", name]),
            Format::Rpm => args(&["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", name]),
        }
    }

    /// Reads [`Format::query_command`]'s answer (`None`: the command failed).
    pub fn parse_query(self, answer: Option<&str>) -> OnHost {
        let Some(text) = answer.map(str::trim) else {
            return OnHost::Absent;
        };
        match self {
            Format::Rpm if text.is_empty() => OnHost::Absent,
            Format::Rpm => OnHost::Installed(text.to_string()),
            Format::Deb => {
                let (status, version) = text.split_once('\t').unwrap_or((text, ""));
                match status.split_whitespace().nth(2) {
                    Some("installed") => OnHost::Installed(version.to_string()),
                    None | Some("not-installed" | "config-files") => OnHost::Absent,
                    Some(_) => OnHost::Broken(format!("{status} {version}")),
                }
            }
        }
    }

    /// What `file` is and how it runs, for agent `agent`.
    pub async fn inspect(self, file: &Path, agent: &str) -> Result<Inspected, String> {
        let inspected = match self {
            Format::Deb => deb::inspect(file, agent).await?,
            Format::Rpm => rpm::inspect(file, agent).await?,
        };
        inspected.manifest.check().map_err(|e| {
            format!(
                "the {} package `{}` cannot be run as agent {agent}: {e}",
                self.label(),
                inspected.package
            )
        })?;
        Ok(inspected)
    }

    /// What the package database says about package `name`.
    pub async fn on_host(self, name: &str) -> OnHost {
        self.parse_query(run(&self.query_command(name)).await.ok().as_deref())
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `tool`'s path in the `:`-separated `search` folders, if it is there and executable.
fn locate(tool: &str, search: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `argv` (with [`SYSTEM_PATH`], no terminal, dpkg told so); its stdout on success, else
/// a message with the command, how it ended and the end of what it said.
pub async fn run(argv: &[String]) -> Result<String, String> {
    let (program, rest) = argv.split_first().ok_or("no command")?;
    let output = tokio::process::Command::new(program)
        .args(rest)
        .env("PATH", SYSTEM_PATH)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    Err(format!(
        "`{}` failed ({}){}",
        argv.join(" "),
        output.status,
        said(&output.stderr, &output.stdout)
    ))
}

/// The last lines a failed tool wrote (stderr, else stdout), for a job message.
fn said(stderr: &[u8], stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(if stderr.iter().any(|b| !b.is_ascii_whitespace()) {
        stderr
    } else {
        stdout
    });
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    let tail = lines[lines.len().saturating_sub(6)..].join(" | ");
    let cut = tail.char_indices().nth(600).map_or(tail.len(), |(i, _)| i);
    format!(": {}", &tail[..cut])
}

/// Refuses a job that would change how an installed agent is packaged (a `.tar.gz` agent
/// upgraded from a `.deb`, or the reverse): the old one would be left installed beside it.
pub fn check_same_format(
    old: Option<&AgentRecord>,
    format: Option<Format>,
    agent: &str,
) -> Result<(), String> {
    let Some(old) = old else { return Ok(()) };
    let was = old.os_package.as_ref().map(|p| p.format);
    if was == format {
        return Ok(());
    }
    let label = |f: Option<Format>| f.map_or(".tar.gz", Format::label);
    Err(format!(
        "{agent} {} is installed from a {} package and this one is a {}: uninstall {agent} \
         first; nothing done",
        old.version,
        label(was),
        label(format)
    ))
}

/// Checks that `inspected` may be installed for agent `agent` (`old`: its record): an upgrade
/// installs the same package; a first install does not take over a package the host already
/// has.
pub async fn check_takeover(
    format: Format,
    inspected: &Inspected,
    old: Option<&AgentRecord>,
    agent: &str,
) -> Result<(), String> {
    if let Some(old_package) = old.and_then(|r| r.os_package.as_ref()) {
        if old_package.name != inspected.package {
            return Err(format!(
                "the package is `{}` but {agent} is installed from `{}`: uninstall {agent} \
                 first; nothing done",
                inspected.package, old_package.name
            ));
        }
        return Ok(());
    }
    match format.on_host(&inspected.package).await {
        OnHost::Absent => Ok(()),
        OnHost::Installed(version) => Err(format!(
            "`{}` {version} is already installed on this host, not by the BootAgent: remove \
             it first ({}); nothing done",
            inspected.package,
            format.remove_command(&inspected.package).join(" ")
        )),
        OnHost::Broken(status) => Err(format!(
            "`{}` is half-installed on this host ({status}), not by the BootAgent: repair or \
             remove it first; nothing done",
            inspected.package
        )),
    }
}

/// Makes `version_dir` hold the package file (moved from `download`) and its `manifest.toml`,
/// through a hidden folder renamed into place, so a version folder is always complete.
pub fn keep(
    format: Format,
    download: fetch::Download,
    manifest: &Manifest,
    version_dir: &Path,
) -> Result<(), String> {
    use agentkit::private::{FILE_MODE, create_private, narrow, private_dir};
    use std::io::Write as _;
    let parent = version_dir.parent().ok_or("version folder has no parent")?;
    let tmp = parent.join(format!(".keep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = (|| -> Result<(), String> {
        private_dir(&tmp).map_err(|e| format!("create {}: {e}", tmp.display()))?;
        let text = toml::to_string(manifest).map_err(|e| format!("{MANIFEST}: {e}"))?;
        let path = tmp.join(MANIFEST);
        create_private(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("write {}: {e}", path.display()))?;
        let kept = tmp.join(format.kept_file());
        download.keep_as(&kept).map_err(|e| e.to_string())?;
        narrow(&kept, FILE_MODE).map_err(|e| format!("chmod 0600 {}: {e}", kept.display()))?;
        if version_dir.exists() {
            std::fs::remove_dir_all(version_dir)
                .map_err(|e| format!("remove the old {}: {e}", version_dir.display()))?;
        }
        std::fs::rename(&tmp, version_dir)
            .map_err(|e| format!("rename into {}: {e}", version_dir.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// The previous version of an agent, to put back: its package, version and kept file.
pub struct Previous<'a> {
    /// Its package.
    pub package: &'a OsPackage,
    /// Its version.
    pub version: &'a str,
    /// The package file kept in its version folder.
    pub file: PathBuf,
}

/// Installs the kept package `file` of `package`. When the tool fails, the host is put back
/// as it was (`previous` installed again, or the package purged) and the error says so.
pub async fn install(
    package: &OsPackage,
    file: &Path,
    previous: Option<&Previous<'_>>,
) -> Result<(), String> {
    let Err(failed) = run(&package.format.install_command(file)).await else {
        return Ok(());
    };
    let restored = match previous {
        Some(previous) => put_back(previous).await,
        None => purge(package).await,
    };
    Err(match restored {
        Ok(state) => format!("{failed}; {state}"),
        Err(e) => format!("{failed}; and then {e}"),
    })
}

/// Installs `previous` again unless the database already has it at its version; says so.
pub async fn put_back(previous: &Previous<'_>) -> Result<String, String> {
    let (format, name) = (previous.package.format, previous.package.name.as_str());
    let version = previous.version;
    if format.on_host(name).await == OnHost::Installed(version.to_string()) {
        return Ok(format!("{name} {version} is installed as before"));
    }
    let ran = run(&format.downgrade_command(&previous.file)).await;
    match (format.on_host(name).await, ran) {
        (OnHost::Installed(v), _) if v == version => {
            Ok(format!("{name} {version} was installed again"))
        }
        (state, Err(e)) => Err(format!(
            "putting {name} {version} back failed ({state:?}): {e}"
        )),
        (state, Ok(_)) => Err(format!("putting {name} {version} back left it {state:?}")),
    }
}

/// Removes `package` (and its configuration) from the host; checks it is gone.
pub async fn purge(package: &OsPackage) -> Result<String, String> {
    let ran = run(&package.format.remove_command(&package.name)).await;
    match (package.format.on_host(&package.name).await, ran) {
        (OnHost::Absent, _) => Ok(format!("{} is not installed", package.name)),
        (state, Err(e)) => Err(format!("removing {} failed ({state:?}): {e}", package.name)),
        (state, Ok(_)) => Err(format!("removing {} left it {state:?}", package.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_names_the_format() {
        let f = Format::from_url;
        assert_eq!(f("https://p/packages/x/x_1.0_all.deb"), Some(Format::Deb));
        assert_eq!(
            f("ftp://p/BasicAgent/BasicAgent-1.5.6.rpm"),
            Some(Format::Rpm)
        );
        assert_eq!(f("https://p/x.DEB?token=1"), Some(Format::Deb));
        assert_eq!(f("https://p/x-1.0.tar.gz"), None);
        assert_eq!(f("https://p/deb/x-1.0.tar.gz#x.deb"), None);
    }

    #[test]
    fn command_lines() {
        let file = Path::new("/state/agents/x/1.0/package.deb");
        let line = |v: Vec<String>| v.join(" ");
        assert_eq!(
            line(Format::Deb.install_command(file)),
            "dpkg --install --force-confdef --force-confold /state/agents/x/1.0/package.deb"
        );
        assert_eq!(
            line(Format::Deb.downgrade_command(file)),
            "dpkg --install --force-downgrade --force-confdef --force-confold \
             /state/agents/x/1.0/package.deb"
        );
        assert_eq!(line(Format::Deb.remove_command("x")), "dpkg --purge x");
        let rpm = Path::new("/s/package.rpm");
        assert_eq!(
            line(Format::Rpm.install_command(rpm)),
            "rpm -U /s/package.rpm"
        );
        assert_eq!(
            line(Format::Rpm.downgrade_command(rpm)),
            "rpm -U --oldpackage /s/package.rpm"
        );
        assert_eq!(line(Format::Rpm.remove_command("x")), "rpm -e x");
        assert_eq!(
            line(Format::Rpm.query_command("x")),
            "rpm -q --qf %{VERSION}-%{RELEASE} x"
        );
    }

    #[test]
    fn database_answers() {
        let deb = |s: Option<&str>| Format::Deb.parse_query(s);
        assert_eq!(
            deb(Some("install ok installed\t1.0")),
            OnHost::Installed("1.0".into())
        );
        assert_eq!(deb(None), OnHost::Absent);
        assert_eq!(deb(Some("deinstall ok config-files\t1.0")), OnHost::Absent);
        assert_eq!(deb(Some("unknown ok not-installed\t")), OnHost::Absent);
        assert_eq!(
            deb(Some("install ok unpacked\t2.0")),
            OnHost::Broken("install ok unpacked 2.0".into())
        );
        assert_eq!(
            Format::Rpm.parse_query(Some("1.0-1\n")),
            OnHost::Installed("1.0-1".into())
        );
        assert_eq!(Format::Rpm.parse_query(None), OnHost::Absent);
    }

    #[test]
    fn a_missing_tool_refuses_the_job() {
        let empty = tempfile::tempdir().unwrap();
        let search = empty.path().display().to_string();
        let err = Format::Rpm.check_tools_in(&search).unwrap_err();
        assert!(
            err.starts_with(".rpm packages need `rpm`, which this host does not have")
                && err.ends_with("nothing done"),
            "{err}"
        );
        // A file that is there but not executable does not count.
        std::fs::write(empty.path().join("rpm"), "").unwrap();
        assert!(Format::Rpm.check_tools_in(&search).is_err());
    }

    #[test]
    fn an_agent_keeps_its_format() {
        let tarball = AgentRecord {
            version: "1.0".into(),
            ..Default::default()
        };
        let deb = AgentRecord {
            os_package: Some(OsPackage {
                format: Format::Deb,
                name: "x".into(),
            }),
            ..tarball.clone()
        };
        assert!(check_same_format(None, Some(Format::Deb), "x").is_ok());
        assert!(check_same_format(Some(&deb), Some(Format::Deb), "x").is_ok());
        assert!(check_same_format(Some(&tarball), None, "x").is_ok());
        let err = check_same_format(Some(&tarball), Some(Format::Deb), "x").unwrap_err();
        assert_eq!(
            err,
            "x 1.0 is installed from a .tar.gz package and this one is a .deb: uninstall x \
             first; nothing done"
        );
        assert!(check_same_format(Some(&deb), None, "x").is_err());
    }
}
