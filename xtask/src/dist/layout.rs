//! Keeps the code layout honest: in a build made with `layout/*.ld`, the hot section
//! (`.text.hot`: the functions the profile saw run) must be there and hold at least the share of
//! the code that `layout/coverage.toml` records for that file. A stale script (the
//! functions it names were renamed or are gone) shrinks that share; the check then fails and
//! says to run `layout/profile.sh` again.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, ensure};
use object::{Object as _, ObjectSection as _};

/// The share of the code (`.text.hot` ÷ (`.text.hot` + `.text`)) of each shipped file when
/// the scripts were made, by file name.
#[derive(Debug, serde::Deserialize)]
struct Coverage {
    /// A build may keep this part of the recorded share (0.8: lose a fifth) before it fails.
    tolerance: f64,
    share: BTreeMap<String, f64>,
}

/// The hot share of one ELF file: `None` when it has no `.text.hot` section.
pub fn hot_share(file: &Path) -> anyhow::Result<Option<f64>> {
    let data = std::fs::read(file).with_context(|| format!("read {}", file.display()))?;
    let elf = object::File::parse(&*data).with_context(|| format!("parse {}", file.display()))?;
    let size = |name: &str| elf.section_by_name(name).map(|s| s.size());
    let Some(hot) = size(".text.hot") else {
        return Ok(None);
    };
    let rest = size(".text").unwrap_or(0);
    Ok(Some(hot as f64 / (hot + rest).max(1) as f64))
}

/// Checks every file built with a layout script against `layout/coverage.toml`; prints one
/// line each.
pub fn check(root: &Path, files: &[std::path::PathBuf]) -> anyhow::Result<()> {
    let path = root.join("layout/coverage.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let coverage: Coverage =
        toml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let mut stale = Vec::new();
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let recorded = *coverage.share.get(name.as_ref()).with_context(|| {
            format!(
                "{}: no share recorded for `{name}` (add its line)",
                path.display()
            )
        })?;
        let share = hot_share(file)?.unwrap_or(0.0);
        let floor = recorded * coverage.tolerance;
        let verdict = if share >= floor { "ok  " } else { "STALE" };
        println!(
            "{verdict} hot {:>5.1}% (recorded {:>5.1}%, floor {:>5.1}%) {}",
            share * 100.0,
            recorded * 100.0,
            floor * 100.0,
            file.display()
        );
        if share < floor {
            stale.push(file.display().to_string());
        }
    }
    ensure!(
        stale.is_empty(),
        "the code layout is stale for {}: run `bash layout/profile.sh`, then update \
         layout/coverage.toml from `cargo xtask dist` (see layout/README.md)",
        stale.join(", ")
    );
    Ok(())
}
