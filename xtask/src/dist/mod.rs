//! `cargo xtask dist`: the release command. One run makes, versioned from the workspace:
//! the portable build (glibc ≥ 2.17, checked), the Debian packages, the BootAgent tarballs of
//! gearman, nodus, logagent and secureagent (`mkpkg agent`), their minisign signatures when a
//! key is given, and `SHA256SUMS` over everything, in `target/dist/` by default.

mod build;
mod deb;
mod layout;
mod packages;
mod scripts;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, ensure};
use sha2::Digest as _;

use packages::PACKAGES;

/// `cargo xtask dist` options.
#[derive(clap::Args, Debug)]
pub struct DistArgs {
    /// Output folder.
    #[arg(long, default_value = "target/dist")]
    pub out: PathBuf,
    /// Target folder of the portable build.
    #[arg(long, default_value = "target")]
    pub target_dir: PathBuf,
    /// Minisign secret key (`mkpkg keygen`, `minisign -G`): every package and tarball gets a
    /// `.minisig` beside it.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    /// File holding the password of an encrypted key.
    #[arg(long, value_name = "FILE", requires = "sign")]
    pub password_file: Option<PathBuf>,
    /// Link in the compiler's order, without `layout/*.ld`.
    #[arg(long)]
    pub no_layout: bool,
    /// Use the build already in the target folder.
    #[arg(long)]
    pub skip_build: bool,
}

/// Runs the release command.
pub fn run(root: &Path, args: &DistArgs) -> anyhow::Result<()> {
    let meta = Metadata::read(root)?;
    let target_dir = root.join(&args.target_dir);
    let build_dir = if args.skip_build {
        target_dir.join("x86_64-unknown-linux-gnu/release")
    } else {
        build::build(root, &target_dir, &meta.crates, !args.no_layout)?
    };
    let out = root.join(&args.out);
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("clear {}", out.display()))?;
    }
    std::fs::create_dir_all(&out)?;

    // Every shipped ELF file: the floor for all, the layout where a script applies.
    let mut shipped: Vec<PathBuf> = PACKAGES
        .iter()
        .flat_map(|p| p.binaries.iter().map(|b| build_dir.join(b)))
        .collect();
    shipped.extend(plugin_host::registry::plugin_files(&build_dir)?);
    build::check_floor(root, &shipped)?;
    if !args.no_layout {
        layout::check(root, &layout_files(&shipped))?;
    }

    let docs = out.join("docs");
    crate::man::write_all(&docs)?;
    crate::completions::write_all(&docs)?;
    let changelog = changelog(root, &meta.version)?;
    let release = deb::Release {
        root,
        build_dir: &build_dir,
        docs_dir: &docs,
        version: &meta.version,
        changelog: &changelog,
        homepage: &meta.homepage,
    };
    let stage = out.join("stage");
    let mut files = Vec::new();
    for package in PACKAGES {
        files.push(deb::build(&release, package, &stage, &out)?);
    }
    std::fs::remove_dir_all(&stage)?;
    std::fs::remove_dir_all(&docs)?;
    for agent in ["gearman", "nodus", "logagent", "secureagent"] {
        files.push(mkpkg_agent(&build_dir, agent, &meta.version, &out, args)?);
    }
    if let Some(key) = &args.sign {
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "deb"))
        {
            mkpkg(
                &build_dir,
                &["sign"],
                Some((key, args.password_file.as_deref())),
                Some(file),
            )?;
        }
    }
    write_sums(&out)?;
    println!("xtask: release {} in {}", meta.version, out.display());
    Ok(())
}

/// The shipped files whose build applies a layout script (`layout/build.rs`: the agents'
/// packages and the plugins; `mkpkg` is built by the bootagent package).
fn layout_files(shipped: &[PathBuf]) -> Vec<PathBuf> {
    shipped
        .iter()
        .filter(|file| {
            file.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                matches!(n, "gearman" | "nodus" | "bootagent" | "mkpkg")
                    || n.starts_with("libplugin_")
            })
        })
        .cloned()
        .collect()
}

/// `mkpkg agent <agent>` from the portable build; the tarball's path.
fn mkpkg_agent(
    build_dir: &Path,
    agent: &str,
    version: &str,
    out: &Path,
    args: &DistArgs,
) -> anyhow::Result<PathBuf> {
    let out_text = out.to_string_lossy();
    let build_text = build_dir.to_string_lossy();
    let sign = args
        .sign
        .as_deref()
        .map(|k| (k, args.password_file.as_deref()));
    mkpkg(
        build_dir,
        &[
            "agent",
            agent,
            "--build-dir",
            &build_text,
            "--version",
            version,
            "-o",
            &out_text,
        ],
        sign,
        None,
    )?;
    let tarball = out.join(format!("{agent}-{version}.tar.gz"));
    ensure!(tarball.is_file(), "mkpkg wrote no {}", tarball.display());
    Ok(tarball)
}

fn mkpkg(
    build_dir: &Path,
    args: &[&str],
    sign: Option<(&Path, Option<&Path>)>,
    file: Option<&Path>,
) -> anyhow::Result<()> {
    let mut cmd = Command::new(build_dir.join("mkpkg"));
    cmd.args(args);
    if let Some((key, password)) = sign {
        cmd.arg("--sign").arg(key);
        if let Some(password) = password {
            cmd.arg("--password-file").arg(password);
        }
    }
    if let Some(file) = file {
        cmd.arg(file);
    }
    let out = cmd.output().context("run mkpkg")?;
    ensure!(
        out.status.success(),
        "mkpkg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `SHA256SUMS` (the `sha256sum` format) over every file of `out`.
fn write_sums(out: &Path) -> anyhow::Result<()> {
    let mut names: Vec<String> = std::fs::read_dir(out)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut sums = String::new();
    for name in names {
        let data = std::fs::read(out.join(&name))?;
        sums.push_str(&format!("{}  {name}\n", hex(&sha2::Sha256::digest(&data))));
    }
    std::fs::write(out.join("SHA256SUMS"), sums)?;
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Debian changelog entry of `version`, from `CHANGELOG.md`'s `## <version>` section.
fn changelog(root: &Path, version: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(root.join("CHANGELOG.md")).context("read CHANGELOG.md")?;
    let heading = format!("## {version}");
    let section: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with(&heading))
        .skip(1)
        .take_while(|l| !l.starts_with("## "))
        .collect();
    // `- ` starts an item; indented lines continue it.
    let mut entries: Vec<String> = Vec::new();
    for line in &section {
        if let Some(item) = line.strip_prefix("- ") {
            entries.push(item.to_string());
        } else if let (Some(last), true) = (entries.last_mut(), line.starts_with("  ")) {
            last.push(' ');
            last.push_str(line.trim());
        }
    }
    let items: Vec<String> = entries
        .iter()
        .map(|item| format!("  * {}", deb::wrap(item, 74).join("\n    ")))
        .collect();
    ensure!(
        !items.is_empty(),
        "CHANGELOG.md has no `{heading}` section with `- ` items"
    );
    let date = Command::new("git")
        .current_dir(root)
        .args(["log", "-1", "--format=%aD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "Thu, 03 Dec 2026 00:00:00 +0000".into());
    Ok(format!(
        "polaris ({version}-1) unstable; urgency=medium\n\n{}\n\n -- {}  {date}\n",
        items.join("\n"),
        deb::MAINTAINER
    ))
}

/// What `cargo metadata` says of the workspace.
struct Metadata {
    crates: build::Crates,
    version: String,
    homepage: String,
}

impl Metadata {
    fn read(root: &Path) -> anyhow::Result<Metadata> {
        let out = Command::new("cargo")
            .current_dir(root)
            .args(["metadata", "--no-deps", "--format-version", "1"])
            .output()
            .context("run cargo metadata")?;
        ensure!(out.status.success(), "cargo metadata failed");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let root_text = format!("{}/", root.display());
        let mut crates = build::Crates {
            agents: Vec::new(),
            plugins: Vec::new(),
            server: "polaris".into(),
        };
        let (mut version, mut homepage) = (None, String::new());
        for package in meta["packages"].as_array().into_iter().flatten() {
            let name = package["name"].as_str().unwrap_or_default().to_string();
            let manifest = package["manifest_path"].as_str().unwrap_or_default();
            let relative = manifest.strip_prefix(&root_text).unwrap_or(manifest);
            let makes = |kind: &str| {
                package["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| {
                        t["kind"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|k| k == kind)
                    })
            };
            if relative.starts_with("host/") && makes("bin") {
                crates.agents.push(name.clone());
            } else if relative.starts_with("plugins/") && makes("cdylib") {
                crates.plugins.push(name.clone());
            } else if name == "polaris" {
                version = package["version"].as_str().map(String::from);
                homepage = package["repository"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
            }
        }
        let version = version.context("no polaris package in the workspace")?;
        Ok(Metadata {
            crates,
            version,
            homepage,
        })
    }
}
