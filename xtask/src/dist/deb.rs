//! Stages one Debian package (files on their paths, control file, conffiles, maintainer
//! scripts, md5sums) and builds it with `dpkg-deb --root-owner-group`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail, ensure};

use super::packages::Package;

/// The maintainer named in every control file and changelog entry.
pub const MAINTAINER: &str = "Polaris developers <polaris@example.invalid>";

/// What is shared by all packages of one release.
pub struct Release<'a> {
    /// The repository's root.
    pub root: &'a Path,
    /// The portable build's output folder.
    pub build_dir: &'a Path,
    /// The generated man pages (`<name>.<section>`) and completions (`<bin>.bash`, `_<bin>`).
    pub docs_dir: &'a Path,
    /// Upstream version (`0.1.0`); the Debian revision `-1` is added.
    pub version: &'a str,
    /// The Debian changelog text of this release (uncompressed).
    pub changelog: &'a str,
    /// The workspace's repository URL.
    pub homepage: &'a str,
}

/// Stages `package` under `stage/<name>` and builds `<out>/<name>_<version>-1_amd64.deb`.
pub fn build(
    release: &Release,
    package: &Package,
    stage: &Path,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let tree = stage.join(package.name);
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("clear {}", tree.display()))?;
    }
    let mut conffiles = Vec::new();
    for binary in package.binaries {
        copy(
            &release.build_dir.join(binary),
            &tree.join("usr/bin").join(binary),
            0o755,
        )?;
        // The binary's page and those of its subcommands (`polaris-serve.1`).
        for entry in std::fs::read_dir(release.docs_dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name == format!("{binary}.1")
                || (name.starts_with(&format!("{binary}-")) && name.ends_with(".1"))
            {
                man_page(release, &tree, &name)?;
            }
        }
        let bash = release.docs_dir.join("bash").join(binary);
        copy(
            &bash,
            &tree
                .join("usr/share/bash-completion/completions")
                .join(binary),
            0o644,
        )?;
        let zsh = format!("_{binary}");
        copy(
            &release.docs_dir.join("zsh").join(&zsh),
            &tree.join("usr/share/zsh/vendor-completions").join(&zsh),
            0o644,
        )?;
    }
    for page in package.man_pages {
        man_page(release, &tree, page)?;
    }
    if let Some((roles, agent)) = package.plugins {
        let (plugins, skipped) = plugin_host::registry::files_with_roles(release.build_dir, roles)
            .with_context(|| format!("list plugins in {}", release.build_dir.display()))?;
        if let Some((path, e)) = skipped.first() {
            bail!("{} does not load: {e}", path.display());
        }
        ensure!(
            !plugins.is_empty(),
            "no plugin for {agent} in {}",
            release.build_dir.display()
        );
        for (path, installed) in plugins {
            copy(
                &path,
                &tree.join("usr/lib/cargo").join(agent).join(installed),
                0o644,
            )?;
        }
    }
    if let Some(config) = &package.config {
        let mut text = std::fs::read_to_string(release.root.join(config.source))
            .with_context(|| format!("read {}", config.source))?;
        for (old, new) in config.replace {
            ensure!(
                text.contains(old),
                "{}: the line `{old}` to replace is gone",
                config.source
            );
            text = text.replace(old, new);
        }
        let installed = format!("etc/cargo/{}", config.name);
        write(&tree.join(&installed), text.as_bytes(), 0o644)?;
        conffiles.push(format!("/{installed}"));
    }
    for (source, installed) in package.data {
        copy(&release.root.join(source), &tree.join(installed), 0o644)?;
        if installed.starts_with("etc/") {
            conffiles.push(format!("/{installed}"));
        }
    }
    if let Some(unit) = package.unit {
        copy(
            &release.root.join("packaging/systemd").join(unit),
            &tree.join("lib/systemd/system").join(unit),
            0o644,
        )?;
    }
    let doc = tree.join("usr/share/doc").join(package.name);
    write(&doc.join("copyright"), copyright(release).as_bytes(), 0o644)?;
    write(
        &doc.join("changelog.Debian.gz"),
        &gzip(release.changelog.as_bytes())?,
        0o644,
    )?;
    // Not a package of Debian's archive: no bug of Debian's to close at a first upload.
    let overrides = format!(
        "# Built by `cargo xtask dist`, not uploaded to Debian: no ITP bug to close.\n\
         {0}: initial-upload-closes-no-bugs\n",
        package.name
    );
    let overrides_path = tree.join("usr/share/lintian/overrides").join(package.name);
    write(&overrides_path, overrides.as_bytes(), 0o644)?;

    let debian = tree.join("DEBIAN");
    std::fs::create_dir_all(&debian)?;
    if !conffiles.is_empty() {
        write(
            &debian.join("conffiles"),
            format!("{}\n", conffiles.join("\n")).as_bytes(),
            0o644,
        )?;
    }
    for (script, text) in super::scripts::maintainer_scripts(package) {
        write(&debian.join(script), text.as_bytes(), 0o755)?;
    }
    write(&debian.join("md5sums"), &md5sums(&tree)?, 0o644)?;
    write(
        &debian.join("control"),
        control(release, package, &tree)?.as_bytes(),
        0o644,
    )?;

    dirs_0755(&tree)?;
    std::fs::create_dir_all(out)?;
    let deb = out.join(format!("{}_{}-1_amd64.deb", package.name, release.version));
    let status = Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&deb)
        .stdout(std::process::Stdio::null())
        .status()
        .context("run dpkg-deb (Debian's dpkg)")?;
    ensure!(
        status.success(),
        "dpkg-deb --build {} failed",
        tree.display()
    );
    Ok(deb)
}

fn man_page(release: &Release, tree: &Path, page: &str) -> anyhow::Result<()> {
    let section = page.rsplit('.').next().unwrap_or("1");
    let source = release.docs_dir.join(page);
    let text = std::fs::read(&source).with_context(|| format!("read {}", source.display()))?;
    let target = tree.join(format!("usr/share/man/man{section}/{page}.gz"));
    write(&target, &gzip(&text)?, 0o644)
}

fn control(release: &Release, package: &Package, tree: &Path) -> anyhow::Result<String> {
    let installed_kb = du_kb(tree)?;
    let mut depends = vec!["libc6 (>= 2.17)".to_string()];
    if package.unit.is_some() {
        depends.push("init-system-helpers (>= 1.52)".into());
    }
    if package.user.is_some() {
        depends.push("passwd".into());
    }
    let mut text = String::new();
    writeln!(text, "Package: {}", package.name)?;
    writeln!(text, "Version: {}-1", release.version)?;
    writeln!(text, "Architecture: amd64")?;
    writeln!(text, "Maintainer: {MAINTAINER}")?;
    writeln!(text, "Installed-Size: {installed_kb}")?;
    writeln!(text, "Depends: {}", depends.join(", "))?;
    if !package.conflicts.is_empty() {
        writeln!(text, "Conflicts: {}", package.conflicts)?;
    }
    writeln!(text, "Section: admin")?;
    writeln!(text, "Priority: optional")?;
    if release.homepage.starts_with("https://") && !release.homepage.contains(".invalid") {
        writeln!(text, "Homepage: {}", release.homepage)?;
    }
    writeln!(text, "Description: {}", package.summary)?;
    for paragraph in package.description.split('\n') {
        for line in wrap(paragraph, 78) {
            writeln!(text, " {line}")?;
        }
    }
    Ok(text)
}

/// Words of `text` in lines of at most `width` characters.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line at least");
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn copyright(release: &Release) -> String {
    format!(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
         Upstream-Name: polaris\n\
         Source: {}\n\n\
         Files: *\n\
         Copyright: 2026 The Polaris developers\n\
         License: Apache-2.0\n \
         On Debian systems, the full text of the Apache License, Version 2.0 can be found in\n \
         /usr/share/common-licenses/Apache-2.0.\n",
        release.homepage
    )
}

/// gzip at level 9 with no name and no time stamp (`gzip -9n`), as Debian wants.
pub fn gzip(data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    encoder.write_all(data)?;
    Ok(encoder.finish()?)
}

/// `md5sum` of every file under `tree` but `DEBIAN/`, paths relative to it.
fn md5sums(tree: &Path) -> anyhow::Result<Vec<u8>> {
    let files = files_under(tree)?;
    let out = Command::new("md5sum")
        .current_dir(tree)
        .args(files.iter().filter(|f| !f.starts_with("DEBIAN")))
        .output()
        .context("run md5sum")?;
    ensure!(out.status.success(), "md5sum failed");
    Ok(out.stdout)
}

fn du_kb(tree: &Path) -> anyhow::Result<u64> {
    let mut bytes = 0;
    for file in files_under(tree)? {
        bytes += std::fs::metadata(tree.join(&file))?.len().div_ceil(1024);
    }
    Ok(bytes)
}

/// Every regular file under `tree`, relative to it, sorted.
fn files_under(tree: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut dirs = vec![tree.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("list {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if let Ok(relative) = path.strip_prefix(tree) {
                found.push(relative.to_path_buf());
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Every folder of the staged tree 0755, whatever the umask made them.
fn dirs_0755(tree: &Path) -> anyhow::Result<()> {
    let mut dirs = vec![tree.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            }
        }
    }
    Ok(())
}

fn copy(from: &Path, to: &Path, mode: u32) -> anyhow::Result<()> {
    let data = std::fs::read(from).with_context(|| format!("read {}", from.display()))?;
    write(to, &data, mode)
}

fn write(to: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::write(to, data).with_context(|| format!("write {}", to.display()))?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {}", to.display()))
}
