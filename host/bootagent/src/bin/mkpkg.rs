//! `mkpkg`: writes BootAgent packages (`.tar.gz` with `manifest.toml`, see the README) and
//! prints `<file> SHA256:<hex>`, ready for a job's `checksum`.
//!
//! ```text
//! mkpkg agent nodus|gearman|logagent|secureagent [--build-dir target/release] [--config FILE]
//!            [--version V] [-o DIR]
//! mkpkg pack --name N --version V --start CMD [--stop kill:TERM] [--check C] [--start-delay S]
//!            [--env K=V]... [--file SRC[=PATH]]... -o FILE
//! mkpkg keygen -o DIR
//! mkpkg sign --sign KEY FILE      (any release file, e.g. a plugin `.so` for gearman)
//! ```
//!
//! `agent` and `pack` take `--sign <minisign secret key>` (and `--password-file` for an
//! encrypted key) to write `<package>.minisig` beside the package; `keygen` writes an
//! unencrypted key pair (`minisign.key`, mode 0600, and `minisign.pub`) and prints the
//! BootAgent's `release_key` line.
//!
//! `agent` packs one of the platform's own agents from a build: the binary, the plugins of its
//! kind found in the build folder (asked for their roles through the plugin loader, so no
//! plugin is named here; logagent and secureagent have none), its example configuration (or
//! `--config`), `types.db` for nodus, secureagent's rules (`secureagent.rules` beside
//! `--config`, else the example's; the example configuration is packed naming them by a path
//! relative to itself), and a `start.sh` that runs it from the package folder (secureagent
//! with `--init-if-missing`: no operator is there to write its first baseline).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bootagent::mkpkg_cli::{Agent, Cli, Command};
use bootagent::package::{Manifest, pack};
use bootagent::signing;
use clap::Parser;
use plugin_api::Roles;

/// The workspace this tool was built from (for the example configs and types.db).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mkpkg: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let (out, key) = match cli.command {
        Command::Keygen { out } => return keygen(&out),
        Command::Sign { file, sign } => {
            let key = sign
                .key()?
                .context("`mkpkg sign` needs --sign <secret key>")?;
            anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
            (file, Some(key))
        }
        Command::Agent {
            agent,
            build_dir,
            config,
            version,
            out,
            sign,
        } => {
            let key = sign.key()?;
            (pack_agent(agent, &build_dir, config, &version, &out)?, key)
        }
        Command::Pack {
            name,
            version,
            start,
            stop,
            check,
            start_delay,
            env,
            file,
            out,
            sign,
        } => {
            let key = sign.key()?;
            let mut vars = BTreeMap::new();
            for pair in env {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("--env `{pair}` is not K=V"))?;
                vars.insert(k.to_string(), v.to_string());
            }
            let manifest = Manifest {
                name,
                version,
                start,
                stop,
                check,
                start_delay,
                stop_timeout: None,
                env: vars,
            };
            let files = file.iter().map(|f| file_arg(f)).collect::<Vec<_>>();
            pack(&out, &manifest, &files)?;
            (out, key)
        }
    };
    if let Some(key) = key {
        let signature = signing::sign_file(&key, &out)?;
        // stdout stays the one `<file> SHA256:<hex>` line scripts read.
        eprintln!("mkpkg: signed: {}", signature.display());
    }
    println!("{} SHA256:{}", out.display(), fetch::sha256_file(&out)?);
    Ok(())
}

/// `mkpkg keygen -o DIR`.
fn keygen(dir: &Path) -> anyhow::Result<()> {
    let keys = signing::keygen(dir)?;
    println!(
        "secret key: {} (mode 0600, not encrypted: keep it off the hosts)",
        keys.secret.display()
    );
    println!("public key: {} (key id {})", keys.public.display(), keys.id);
    println!("bootagent.conf: release_key = \"{}\"", keys.public_line);
    Ok(())
}

/// `SRC` or `SRC=PATH`: the source and its path in the package (default: its file name).
fn file_arg(arg: &str) -> (PathBuf, String) {
    match arg.split_once('=') {
        Some((src, dest)) => (PathBuf::from(src), dest.to_string()),
        None => {
            let src = PathBuf::from(arg);
            let name = src
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.to_string());
            (src, name)
        }
    }
}

fn pack_agent(
    agent: Agent,
    build_dir: &Path,
    config: Option<PathBuf>,
    version: &str,
    out: &Path,
) -> anyhow::Result<PathBuf> {
    let (name, roles, env_prefix): (&str, &[Roles], &str) = match agent {
        Agent::Nodus => ("nodus", &[Roles::READ, Roles::WRITE], "NODUS"),
        Agent::Gearman => ("gearman", &[Roles::INFO], "GEARMAN"),
        Agent::Logagent => ("logagent", &[], "LOGAGENT"),
        Agent::Secureagent => ("secureagent", &[], "SECUREAGENT"),
    };
    let binary = build_dir.join(name);
    anyhow::ensure!(
        binary.is_file(),
        "{} not found: build it first (cargo build --release -p {name})",
        binary.display()
    );
    let mut files = vec![(binary, name.to_string())];
    if !roles.is_empty() {
        let (plugins, skipped) = plugin_host::registry::files_with_roles(build_dir, roles)
            .with_context(|| format!("list {}", build_dir.display()))?;
        for (path, e) in skipped {
            eprintln!("mkpkg: {} skipped: {e}", path.display());
        }
        files.extend(plugins);
    }
    let workspace = Path::new(WORKSPACE);
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    // Written beside the package while packing, removed after.
    let mut scratch = Vec::new();
    if matches!(agent, Agent::Secureagent) {
        let example = workspace.join("host/secureagent");
        let rules = config
            .as_deref()
            .and_then(Path::parent)
            .map(|dir| dir.join("secureagent.rules"))
            .filter(|rules| rules.is_file())
            .unwrap_or_else(|| example.join("secureagent.rules"));
        files.push((rules, "secureagent.rules".into()));
        if config.is_none() {
            // The example names /etc/cargo/secureagent.rules, which a host without the Debian
            // package lacks: the packed copy names the rules packed beside it.
            let text = std::fs::read_to_string(example.join("secureagent.conf"))
                .context("read the example secureagent.conf")?;
            let line = "rules = \"/etc/cargo/secureagent.rules\"";
            anyhow::ensure!(
                text.contains(line),
                "the example secureagent.conf has no `{line}`"
            );
            let packed = out.join(".secureagent.conf");
            std::fs::write(
                &packed,
                text.replace(line, "rules = \"secureagent.rules\"   # beside this file"),
            )?;
            files.push((packed.clone(), "secureagent.conf".into()));
            scratch.push(packed);
        }
    }
    if !files
        .iter()
        .any(|(_, packed)| *packed == format!("{name}.conf"))
    {
        let config = config.unwrap_or_else(|| workspace.join(format!("host/{name}/{name}.conf")));
        files.push((config, format!("{name}.conf")));
    }
    if matches!(agent, Agent::Nodus) {
        // nodus finds types.db beside its binary.
        files.push((workspace.join("types.db"), "types.db".into()));
    }
    let script = out.join(format!(".{name}-start.sh"));
    // An agent with plugins loads those packed beside it.
    let plugin_dir = if roles.is_empty() {
        String::new()
    } else {
        format!("export {env_prefix}_PLUGIN_DIR=\"${{{env_prefix}_PLUGIN_DIR:-$PWD}}\"\n")
    };
    // The integrity agent writes its first baseline itself when it has none.
    let flags = if matches!(agent, Agent::Secureagent) {
        " --init-if-missing"
    } else {
        ""
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# Written by mkpkg: runs {name} from this package's folder with the plugins packed beside it.\n\
             # {env_prefix}_CONF (job env) names another configuration file.\n\
             cd \"$(dirname \"$0\")\" || exit 1\n\
             {plugin_dir}\
             exec ./{name} -f{flags} -C \"${{{env_prefix}_CONF:-$PWD/{name}.conf}}\"\n"
        ),
    )?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    }
    files.push((script.clone(), "start.sh".into()));
    let manifest = Manifest {
        name: name.into(),
        version: version.into(),
        start: "./start.sh".into(),
        stop: "kill:TERM".into(),
        check: None,
        start_delay: Some(1),
        stop_timeout: None,
        env: BTreeMap::new(),
    };
    let file = out.join(format!("{name}-{version}.tar.gz"));
    let packed = pack(&file, &manifest, &files);
    let _ = std::fs::remove_file(&script);
    for file in scratch {
        let _ = std::fs::remove_file(file);
    }
    packed?;
    Ok(file)
}
