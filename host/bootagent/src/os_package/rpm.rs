//! `.rpm` packages, where the host has rpm: the name and version from `rpm -qp`, and how the
//! agent runs from a `manifest.toml` the package installs at
//! `/usr/share/polaris/<agent>/manifest.toml` (rpm headers have no free-form fields), read from
//! the payload with `rpm2cpio | cpio` before anything is installed. The manifest's `version` is
//! replaced by the package's `%{VERSION}-%{RELEASE}`.

use std::path::Path;
use std::process::Stdio;

use super::{Inspected, SYSTEM_PATH, run};
use crate::package::{MANIFEST, Manifest};

/// The `rpm` command that prints `<name>\t<version>-<release>` of `file`.
pub fn query_file_command(file: &Path) -> Vec<String> {
    ["rpm", "-qp", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}"]
        .into_iter()
        .map(String::from)
        .chain([file.display().to_string()])
        .collect()
}

/// Where the package keeps the manifest of agent `agent` (as `cpio` names payload files).
pub fn manifest_path(agent: &str) -> String {
    format!("./usr/share/polaris/{agent}/{MANIFEST}")
}

/// Reads `file`'s name, version and manifest for agent `agent`.
pub async fn inspect(file: &Path, agent: &str) -> Result<Inspected, String> {
    let answer = run(&query_file_command(file))
        .await
        .map_err(|e| format!("not a readable .rpm package: {e}"))?;
    let (package, version) = answer
        .trim()
        .split_once('\t')
        .ok_or_else(|| format!("rpm -qp answered `{}`", answer.trim()))?;
    let text = payload_file(file, &manifest_path(agent)).await?;
    if text.trim().is_empty() {
        return Err(format!(
            "the .rpm `{package}` has no {} for agent {agent}; nothing done",
            &manifest_path(agent)[1..]
        ));
    }
    let mut manifest: Manifest = toml::from_str(&text)
        .map_err(|e| format!("the .rpm's {MANIFEST}: {}", e.to_string().trim()))?;
    if manifest.name != agent {
        return Err(format!(
            "the .rpm's {MANIFEST} is for `{}`, the job installs `{agent}`",
            manifest.name
        ));
    }
    manifest.version = version.to_string();
    Ok(Inspected {
        package: package.to_string(),
        manifest,
    })
}

/// One file of an rpm's payload (`rpm2cpio FILE | cpio -i --to-stdout PATH`); empty when the
/// payload has no such file.
async fn payload_file(file: &Path, path: &str) -> Result<String, String> {
    use tokio::process::Command;
    let mut archive = Command::new("rpm2cpio")
        .arg(file)
        .env("PATH", SYSTEM_PATH)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run rpm2cpio: {e}"))?;
    let stream: Stdio = archive
        .stdout
        .take()
        .ok_or("rpm2cpio has no output")?
        .try_into()
        .map_err(|e| format!("rpm2cpio's output: {e}"))?;
    let extracted = Command::new("cpio")
        .args(["-i", "--quiet", "--to-stdout", path])
        .env("PATH", SYSTEM_PATH)
        .stdin(stream)
        .output()
        .await
        .map_err(|e| format!("cannot run cpio: {e}"))?;
    let unpacked = archive.wait().await.map_err(|e| format!("rpm2cpio: {e}"))?;
    if !unpacked.success() {
        return Err(format!("rpm2cpio {} failed ({unpacked})", file.display()));
    }
    Ok(String::from_utf8_lossy(&extracted.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines() {
        assert_eq!(
            query_file_command(Path::new("/d/package.rpm")).join(" "),
            "rpm -qp --qf %{NAME}\t%{VERSION}-%{RELEASE} /d/package.rpm"
        );
        assert_eq!(
            manifest_path("BasicAgent"),
            "./usr/share/polaris/BasicAgent/manifest.toml"
        );
    }
}
