//! The package format: a `.tar.gz` whose root holds `manifest.toml` ([`Manifest`]) beside the
//! agent's files. [`unpack`] extracts a verified download into a hidden folder and renames it
//! to its version folder; [`pack`] writes one (used by `mkpkg`). Where versions live and which
//! one is current is [`crate::layout`]'s business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// The manifest's file name at the package root.
pub const MANIFEST: &str = "manifest.toml";

/// `manifest.toml`: what the package is and how to run it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The agent's name; must equal the job's `name`.
    pub name: String,
    /// Its version; also the folder name, so letters, digits and `. _ + -` only.
    pub version: String,
    /// Command that starts it, run by `/bin/sh -c` in the unpacked folder.
    pub start: String,
    /// `kill:<SIGNAL>` (e.g. `kill:TERM`) or `process:<command>`.
    #[serde(default = "default_stop")]
    pub stop: String,
    /// How to tell it is up: `process` (default: the process is alive), `socket:<path>`, or a
    /// command that must exit 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
    /// Seconds after the start before the check decides whether it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_delay: Option<u64>,
    /// Seconds between the stop and SIGKILL of its process group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u64>,
    /// Environment of the agent; the job's `env` wins on conflicts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
}

fn default_stop() -> String {
    "kill:TERM".into()
}

impl Manifest {
    /// Parses and checks a manifest text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| format!("{MANIFEST}: {}", e.to_string().trim()))?;
        manifest.check()?;
        Ok(manifest)
    }

    /// Checks the fields that parse but cannot work.
    pub fn check(&self) -> Result<(), String> {
        check_name("name", &self.name)?;
        check_name("version", &self.version)?;
        if self.start.trim().is_empty() {
            return Err(format!("{MANIFEST}: `start` is empty"));
        }
        let stop_ok = self
            .stop
            .strip_prefix("kill:")
            .is_some_and(|s| !s.is_empty())
            || self
                .stop
                .strip_prefix("process:")
                .is_some_and(|s| !s.trim().is_empty());
        if !stop_ok {
            return Err(format!(
                "{MANIFEST}: `stop` must be kill:<SIGNAL> or process:<command>, not `{}`",
                self.stop
            ));
        }
        Ok(())
    }
}

/// Names and versions become folder names: 1 to 64 of `A-Z a-z 0-9 . _ + -`, not starting
/// with `.` or `-`. The platform's one name check ([`supervise::check_name`]), also used for
/// every job that names an agent and for gearman's daemons.
pub fn check_name(what: &str, value: &str) -> Result<(), String> {
    supervise::check_name(what, value)
}

/// Unpacks the package `archive` of agent `name` into `<agent_dir>/<version>` and returns
/// its manifest and folder. It is extracted (by [`fetch::Tarball`], which keeps entries
/// inside the folder) into a hidden folder first and renamed, so a version folder is always
/// complete. A version folder that exists but is not `keep` is replaced; the `keep` version
/// (the current one) is never touched.
pub fn unpack(
    archive: &Path,
    name: &str,
    agent_dir: &Path,
    keep: Option<&str>,
) -> Result<(Manifest, PathBuf), String> {
    std::fs::create_dir_all(agent_dir)
        .map_err(|e| format!("create {}: {e}", agent_dir.display()))?;
    let tmp = agent_dir.join(format!(".unpack-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = unpack_into(archive, name, &tmp).and_then(|manifest| {
        let dest = agent_dir.join(&manifest.version);
        if keep == Some(manifest.version.as_str()) {
            // The version installed now: left as it is (the caller sees the same version).
            let _ = std::fs::remove_dir_all(&tmp);
            return Ok((manifest, dest));
        }
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .map_err(|e| format!("remove the old {}: {e}", dest.display()))?;
        }
        std::fs::rename(&tmp, &dest).map_err(|e| format!("rename into {}: {e}", dest.display()))?;
        Ok((manifest, dest))
    });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

fn unpack_into(archive: &Path, name: &str, dir: &Path) -> Result<Manifest, String> {
    fetch::Tarball::Gzip
        .unpack(archive, dir)
        .map_err(|e| format!("the package is not a readable .tar.gz: {e}"))?;
    let text = std::fs::read_to_string(dir.join(MANIFEST))
        .map_err(|e| format!("the package has no readable {MANIFEST} at its root: {e}"))?;
    let manifest = Manifest::parse(&text)?;
    if manifest.name != name {
        return Err(format!(
            "the package is `{}` but the job installs `{name}`",
            manifest.name
        ));
    }
    Ok(manifest)
}

/// Writes a package: `manifest` as `manifest.toml` plus each `(source, path in package)`;
/// file modes are kept (so executables stay executable), owners and times are normalised.
/// gzip's fastest level: agent binaries are large, and packing should take seconds.
pub fn pack(out: &Path, manifest: &Manifest, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    manifest.check().map_err(anyhow::Error::msg)?;
    let file = std::fs::File::create(out).with_context(|| format!("create {}", out.display()))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let text = toml::to_string(manifest)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    tar.append_data(&mut header, MANIFEST, text.as_bytes())?;
    for (source, name) in files {
        if name == MANIFEST || name.starts_with('/') || name.split('/').any(|p| p == "..") {
            anyhow::bail!("`{name}` cannot be a path inside the package");
        }
        tar.append_path_with_name(source, name)
            .with_context(|| format!("add {}", source.display()))?;
    }
    tar.into_inner()?.finish()?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(version: &str) -> Manifest {
        Manifest::parse(&format!(
            "name = \"sleeper\"\nversion = \"{version}\"\nstart = \"./run.sh\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn manifests_are_checked() {
        assert_eq!(manifest("1.0").stop, "kill:TERM");
        let bad = |text: &str| Manifest::parse(text).unwrap_err();
        assert!(bad("name = \"x\"\nversion = \"../1\"\nstart = \"a\"").contains("version"));
        assert!(
            bad("name = \"x\"\nversion = \"1\"\nstart = \"a\"\nstop = \"halt\"").contains("stop")
        );
        assert!(bad("name = \"x\"\nversion = \"1\"\nstart = \"a\"\nextra = 1").contains("extra"));
    }

    #[test]
    fn pack_then_unpack_keeps_files_and_modes() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\nsleep 100\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let archive = dir.path().join("p.tar.gz");
        pack(&archive, &manifest("1.0"), &[(script, "run.sh".into())]).unwrap();

        let agents = dir.path().join("agents/sleeper");
        let (m, folder) = unpack(&archive, "sleeper", &agents, None).unwrap();
        assert_eq!(m.version, "1.0");
        assert_eq!(folder, agents.join("1.0"));
        let mode = std::fs::metadata(folder.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        // The installed, running version is never overwritten.
        std::fs::write(agents.join("1.0/marker"), "x").unwrap();
        unpack(&archive, "sleeper", &agents, Some("1.0")).unwrap();
        assert!(agents.join("1.0/marker").exists());
        // Another agent's package is refused, and leaves nothing behind.
        let err = unpack(&archive, "nodus", &dir.path().join("agents/nodus"), None).unwrap_err();
        assert!(err.contains("`sleeper`"), "{err}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("agents/nodus"))
                .unwrap()
                .count(),
            0
        );
    }
}
