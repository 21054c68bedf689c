//! `.deb` packages: what one is and how it runs, read from its control file with `dpkg-deb
//! --field` before anything is installed. dpkg keeps fields it does not know, so a Polaris
//! package names its start command in one of its own:
//!
//! ```text
//! Package: polaris-nodus
//! Version: 1.2.0
//! Polaris-Start: /usr/lib/polaris-nodus/nodus -f
//! Polaris-Stop: kill:TERM              (optional, as the manifest's `stop`)
//! Polaris-Check: socket:/run/nodus.sock (optional, as the manifest's `check`)
//! Polaris-Start-Delay: 1               (optional, seconds)
//! Polaris-Stop-Timeout: 10             (optional, seconds)
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use super::{Inspected, run};
use crate::package::Manifest;

/// The control fields read, in the order asked.
const FIELDS: [&str; 7] = [
    "Package",
    "Version",
    "Polaris-Start",
    "Polaris-Stop",
    "Polaris-Check",
    "Polaris-Start-Delay",
    "Polaris-Stop-Timeout",
];

/// The `dpkg-deb` command that prints [`FIELDS`] of `file`.
pub fn fields_command(file: &Path) -> Vec<String> {
    ["dpkg-deb", "--field"]
        .into_iter()
        .map(String::from)
        .chain([file.display().to_string()])
        .chain(FIELDS.iter().map(|f| f.to_string()))
        .collect()
}

/// Reads `file`'s control fields into the package name and a manifest for agent `agent`.
pub async fn inspect(file: &Path, agent: &str) -> Result<Inspected, String> {
    let text = run(&fields_command(file))
        .await
        .map_err(|e| format!("not a readable .deb package: {e}"))?;
    from_fields(&parse_fields(&text), agent)
}

/// Parses `Field: value` lines as `dpkg-deb --field` prints several fields (a line starting
/// with white space continues the previous field). Field names are matched case-blind, as
/// dpkg does, so they are kept lower-case.
pub fn parse_fields(text: &str) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.as_ref().and_then(|k| fields.get_mut(k)) {
                let value: &mut String = value;
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            let key = key.trim().to_ascii_lowercase();
            fields.insert(key.clone(), value.trim().to_string());
            last = Some(key);
        }
    }
    fields
}

/// The package name and manifest from parsed control fields.
pub fn from_fields(fields: &BTreeMap<String, String>, agent: &str) -> Result<Inspected, String> {
    let field = |name: &str| {
        fields
            .get(&name.to_ascii_lowercase())
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let seconds = |name: &str| -> Result<Option<u64>, String> {
        field(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("control field {name} `{v}` is not whole seconds"))
            })
            .transpose()
    };
    let package = field("Package").ok_or("the .deb has no Package field")?;
    let version = field("Version").ok_or("the .deb has no Version field")?;
    let start = field("Polaris-Start").ok_or_else(|| {
        format!(
            "the .deb `{package}` {version} has no Polaris-Start field in its control file: \
             the BootAgent runs an agent by the command named there; nothing done"
        )
    })?;
    if start.contains('\n') {
        return Err(format!(
            "the .deb `{package}`'s Polaris-Start field spans several lines"
        ));
    }
    let manifest = Manifest {
        name: agent.to_string(),
        version,
        start,
        stop: field("Polaris-Stop").unwrap_or_else(|| "kill:TERM".into()),
        check: field("Polaris-Check"),
        start_delay: seconds("Polaris-Start-Delay")?,
        stop_timeout: seconds("Polaris-Stop-Timeout")?,
        env: BTreeMap::new(),
    };
    Ok(Inspected { package, manifest })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOWN: &str = "Package: polaris-test-sleeper\nVersion: 1.0\n\
        Polaris-Start: /usr/lib/polaris-test-sleeper/run.sh --flag\n\
        polaris-check: socket:/run/x.sock\nPolaris-Stop-Timeout: 5\n";

    #[test]
    fn control_fields_become_a_manifest() {
        assert_eq!(
            fields_command(Path::new("/d/package.deb")).join(" "),
            "dpkg-deb --field /d/package.deb Package Version Polaris-Start Polaris-Stop \
             Polaris-Check Polaris-Start-Delay Polaris-Stop-Timeout"
        );
        let inspected = from_fields(&parse_fields(SHOWN), "sleeper").unwrap();
        assert_eq!(inspected.package, "polaris-test-sleeper");
        let m = inspected.manifest;
        assert_eq!((m.name.as_str(), m.version.as_str()), ("sleeper", "1.0"));
        assert_eq!(m.start, "/usr/lib/polaris-test-sleeper/run.sh --flag");
        assert_eq!(m.stop, "kill:TERM");
        assert_eq!(m.check.as_deref(), Some("socket:/run/x.sock"));
        assert_eq!((m.start_delay, m.stop_timeout), (None, Some(5)));
        m.check().unwrap();
    }

    #[test]
    fn a_package_without_a_start_command_is_refused() {
        let fields = parse_fields("Package: x\nVersion: 1.0\nDescription: a\n more\n");
        assert_eq!(fields["description"], "a\nmore");
        let err = from_fields(&fields, "x").unwrap_err();
        assert!(err.contains("has no Polaris-Start field"), "{err}");
        let bad =
            parse_fields("Package: x\nVersion: 1\nPolaris-Start: a\nPolaris-Start-Delay: soon\n");
        assert!(from_fields(&bad, "x").unwrap_err().contains("soon"));
    }

    #[test]
    fn versions_that_are_not_folder_names_are_refused() {
        let fields = parse_fields("Package: x\nVersion: 1:2.0~rc1\nPolaris-Start: a\n");
        let inspected = from_fields(&fields, "x").unwrap();
        assert!(inspected.manifest.check().unwrap_err().contains("version"));
    }
}
