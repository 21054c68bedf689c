//! `mkpkg`: writes BootAgent packages (`.tar.gz` with `manifest.toml`, see the README) and
//! prints `<file> SHA256:<hex>`, ready for a job's `checksum`.
//!
//! ```text
//! mkpkg agent nodus|gearman [--build-dir target/release] [--config FILE] [--version V] [-o DIR]
//! mkpkg pack --name N --version V --start CMD [--stop kill:TERM] [--check C] [--start-delay S]
//!            [--env K=V]... [--file SRC[=PATH]]... -o FILE
//! mkpkg keygen -o DIR
//! ```
//!
//! `agent` and `pack` take `--sign <minisign secret key>` (and `--password-file` for an
//! encrypted key) to write `<package>.minisig` beside the package; `keygen` writes an
//! unencrypted key pair (`minisign.key`, mode 0600, and `minisign.pub`) and prints the
//! BootAgent's `release_key` line.
//!
//! `agent` packs one of the platform's own agents from a build: the binary, the plugins of its
//! kind found in the build folder (asked for their roles through the plugin loader, so no
//! plugin is named here), its example configuration (or `--config`), `types.db` for nodus, and
//! a `start.sh` that runs it from the package folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use bootagent::package::{Manifest, pack};
use bootagent::signing;
use clap::{Parser, Subcommand, ValueEnum};
use plugin_api::Roles;

/// The workspace this tool was built from (for the example configs and types.db).
const WORKSPACE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// mkpkg: writes BootAgent packages, and signs them for BootAgents with a `release_key`.
#[derive(Parser, Debug)]
#[command(
    version,
    about,
    after_help = "Signing: `mkpkg keygen -o keys` makes a key pair and prints the BootAgent's \
                  `release_key = \"RWQ...\"` line; `--sign keys/minisign.key` then writes \
                  <package>.minisig beside each package (publish both). Keys made by \
                  `minisign -G -W` (unencrypted) work as they are; for one made by \
                  `minisign -G` (encrypted) add `--password-file FILE`. Check a signature \
                  with `minisign -Vm <package> -p keys/minisign.pub`."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Pack one of the platform's agents from a build folder.
    Agent {
        /// Which agent.
        agent: Agent,
        /// Folder with the built binary and plugin `.so` files.
        #[arg(long, default_value = "target/release")]
        build_dir: PathBuf,
        /// Configuration file to ship (default: the agent's example configuration).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Package version (default: this workspace's version).
        #[arg(long, default_value = env!("CARGO_PKG_VERSION"))]
        version: String,
        /// Output folder; the file is `<agent>-<version>.tar.gz`.
        #[arg(short = 'o', long, default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Pack any program.
    Pack {
        /// Agent name.
        #[arg(long)]
        name: String,
        /// Version.
        #[arg(long)]
        version: String,
        /// Start command, run by /bin/sh -c in the package folder.
        #[arg(long)]
        start: String,
        /// kill:<SIGNAL> or process:<command>.
        #[arg(long, default_value = "kill:TERM")]
        stop: String,
        /// process, socket:<path> or a command.
        #[arg(long)]
        check: Option<String>,
        /// Seconds before the first check.
        #[arg(long)]
        start_delay: Option<u64>,
        /// Environment, K=V.
        #[arg(long)]
        env: Vec<String>,
        /// File to add, SRC or SRC=PATH-IN-PACKAGE.
        #[arg(long)]
        file: Vec<String>,
        /// Output file.
        #[arg(short = 'o', long)]
        out: PathBuf,
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Make a signing key pair: DIR/minisign.key (secret, not encrypted, mode 0600) and
    /// DIR/minisign.pub; prints the BootAgent's `release_key` line. Never overwrites a key.
    Keygen {
        /// Folder for the two files (created if needed).
        #[arg(short = 'o', long)]
        out: PathBuf,
    },
}

/// Signing a package.
#[derive(clap::Args, Debug)]
struct SignArgs {
    /// Also write <package>.minisig, signed with this minisign secret key (from `mkpkg
    /// keygen`, `minisign -G -W`, or `minisign -G` with --password-file).
    #[arg(long, value_name = "SECRET_KEY")]
    sign: Option<PathBuf>,
    /// File whose first line is the password of an encrypted secret key.
    #[arg(long, requires = "sign")]
    password_file: Option<PathBuf>,
}

impl SignArgs {
    /// Loads the key before anything is packed, so a wrong key or password costs no packing.
    fn key(&self) -> anyhow::Result<Option<minisign::SecretKey>> {
        let Some(path) = &self.sign else {
            return Ok(None);
        };
        let password = match &self.password_file {
            Some(file) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("read the password file {}", file.display()))?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            None => None,
        };
        signing::load_secret_key(path, password).map(Some)
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Agent {
    /// The metrics agent (read and write plugins).
    Nodus,
    /// The BasicAgent (info plugins).
    Gearman,
}

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
    };
    let binary = build_dir.join(name);
    anyhow::ensure!(
        binary.is_file(),
        "{} not found: build it first (cargo build --release -p {name})",
        binary.display()
    );
    let mut files = vec![(binary, name.to_string())];
    for path in plugin_host::registry::plugin_files(build_dir)
        .with_context(|| format!("list {}", build_dir.display()))?
    {
        match plugin_host::load(&path) {
            Ok(plugin) if roles.iter().any(|r| plugin.has_role(*r)) => {
                let file = path.file_name().map(|n| n.to_string_lossy().into_owned());
                files.push((path.clone(), file.unwrap_or_default()));
            }
            Ok(_) => {}
            Err(e) => eprintln!("mkpkg: {} skipped: {e}", path.display()),
        }
    }
    let workspace = Path::new(WORKSPACE);
    let config = config.unwrap_or_else(|| workspace.join(format!("host/{name}/{name}.conf")));
    files.push((config, format!("{name}.conf")));
    if matches!(agent, Agent::Nodus) {
        // nodus finds types.db beside its binary.
        files.push((workspace.join("types.db"), "types.db".into()));
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))?;
    let script = out.join(format!(".{name}-start.sh"));
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n# Written by mkpkg: runs {name} from this package's folder with the plugins packed beside it.\n\
             # {env_prefix}_CONF (job env) names another configuration file.\n\
             cd \"$(dirname \"$0\")\" || exit 1\n\
             export {env_prefix}_PLUGIN_DIR=\"${{{env_prefix}_PLUGIN_DIR:-$PWD}}\"\n\
             exec ./{name} -f -C \"${{{env_prefix}_CONF:-$PWD/{name}.conf}}\"\n"
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
    packed?;
    Ok(file)
}
