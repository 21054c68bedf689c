//! `getinfo.disks`: block devices as `lsblk` sees them, and mounted filesystems with their usage as `df` sees them.
//! Files read: `/sys/block/**` (size, ro, removable, queue/rotational, device/{model,vendor}, partitions) and `/proc/self/mounts`; usage via `statvfs(2)`.

mod block;
mod mounts;

use std::fs;
use std::path::{Path, PathBuf};

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, Plugin, PluginError};
use serde::Serialize;
use serde_json::{Value, json};

use mounts::{Mount, Usage};

/// The plugin instance: where to read `/proc` and `/sys` from.
pub struct Disks {
    proc_root: PathBuf,
    sys_root: PathBuf,
}

/// The parsed `-a` arguments.
#[derive(Debug, Default, PartialEq)]
struct Options {
    /// `-a`: include pseudo filesystems and mounts hidden under later ones.
    all: bool,
    /// `-m <mount point>`: only that mount.
    mount_point: Option<String>,
}

/// One reported mount: the mounts line, its usage, and why there is none.
#[derive(Serialize)]
struct MountReport {
    #[serde(flatten)]
    mount: Mount,
    usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage_error: Option<String>,
}

impl Plugin for Disks {
    const NAME: &'static str = "disks";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "block devices, mounted filesystems and their usage";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Disks {
            proc_root: ctx.proc_root(),
            sys_root: ctx.sys_root(),
        })
    }
}

impl InfoPlugin for Disks {
    /// Arguments: `-a` includes pseudo filesystems, `-m <mount point>` reports only that mount.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let opts = parse_args(args)?;
        self.report(&opts, |m| mounts::usage(Path::new(&m.mount_point)))
    }
}

impl Disks {
    /// Builds the answer; `usage_of` is `statvfs` in production and a stub in tests.
    fn report(
        &self,
        opts: &Options,
        usage_of: impl Fn(&Mount) -> Result<Usage, String>,
    ) -> Result<Value, PluginError> {
        let mut unavailable: Vec<String> = Vec::new();

        let block_dir = self.sys_root.join("block");
        let block_devices = match block::read_block_devices(&block_dir) {
            Ok(devices) => Some(devices),
            Err(e) => {
                unavailable.push(format!("{}: {e}", block_dir.display()));
                None
            }
        };

        let mounts_file = self.proc_root.join("self/mounts");
        let mounts = match fs::read(&mounts_file) {
            Ok(text) => Some(self.mounts(mounts::parse_mounts(&text), opts, usage_of)?),
            Err(e) => {
                let why = format!("cannot read {}: {e}", mounts_file.display());
                if opts.mount_point.is_some() || block_devices.is_none() {
                    return Err(PluginError::failed(why));
                }
                unavailable.push(why);
                None
            }
        };

        let mut doc = json!({ "block_devices": block_devices, "mounts": mounts });
        if !unavailable.is_empty() {
            doc["unavailable"] = json!(unavailable);
        }
        Ok(doc)
    }

    /// Selects the mounts to report and attaches their usage.
    fn mounts(
        &self,
        all: Vec<Mount>,
        opts: &Options,
        usage_of: impl Fn(&Mount) -> Result<Usage, String>,
    ) -> Result<Vec<MountReport>, PluginError> {
        let only = opts.mount_point.as_deref();
        let selected = mounts::select(all, opts.all, only).ok_or_else(|| {
            PluginError::invalid_params(format!(
                "no filesystem is mounted at `{}`",
                only.unwrap_or_default()
            ))
        })?;
        let reports = selected.into_iter().map(|mount| {
            let (usage, usage_error) = match usage_of(&mount) {
                Ok(u) => (Some(u), None),
                Err(e) => (None, Some(e)),
            };
            MountReport {
                mount,
                usage,
                usage_error,
            }
        });
        // Like df without -a: a filesystem of size zero (a pseudo fs we do not know) is hidden.
        let hide_empty = !opts.all && only.is_none();
        Ok(reports
            .filter(|r| !(hide_empty && r.usage.as_ref().is_some_and(|u| u.total_bytes == 0)))
            .collect())
    }
}

fn parse_args(args: &str) -> Result<Options, PluginError> {
    let mut opts = Options::default();
    let mut parser = args::parser(args)?;
    while let Some(arg) = parser.next().map_err(args::invalid)? {
        match arg {
            Arg::Short('a') | Arg::Long("all") => opts.all = true,
            Arg::Short('m') | Arg::Long("mount") => {
                let value = parser
                    .value()
                    .map_err(args::invalid)?
                    .to_string_lossy()
                    .into_owned();
                if !value.starts_with('/') {
                    return Err(PluginError::invalid_params(format!(
                        "-m wants an absolute mount point, not `{value}`"
                    )));
                }
                opts.mount_point = Some(value);
            }
            other => return Err(args::unexpected(other)),
        }
    }
    Ok(opts)
}

plugin_api::export_plugin!(Disks, roles: [info]);

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Disks {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        Disks::init(&InitContext::rooted_at(&base)).unwrap()
    }

    /// Pretends every filesystem has 1000 blocks of 4 KiB, except `/run` which is empty.
    fn fake_usage(m: &Mount) -> Result<Usage, String> {
        match m.mount_point.as_str() {
            "/run" => Ok(mounts::usage_from(0, 0, 0, 4096, 0, 0)),
            "/boot/efi" => Err("statvfs /boot/efi: Permission denied".into()),
            _ => Ok(mounts::usage_from(1000, 400, 350, 4096, 100, 90)),
        }
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(parse_args("").unwrap(), Options::default());
        let opts = parse_args("-a -m '/media/My Disk'").unwrap();
        assert!(opts.all);
        assert_eq!(opts.mount_point.as_deref(), Some("/media/My Disk"));
        assert_eq!(parse_args("-x").unwrap_err().code, 3021);
        assert_eq!(parse_args("-m").unwrap_err().code, 3021);
        assert_eq!(parse_args("-m relative").unwrap_err().code, 3021);
        assert_eq!(parse_args("extra").unwrap_err().code, 3021);
    }

    #[test]
    fn reports_devices_and_df_like_mounts() {
        let doc = fixture().report(&Options::default(), fake_usage).unwrap();
        assert_eq!(doc["block_devices"].as_array().unwrap().len(), 3);
        assert_eq!(doc["block_devices"][2]["partitions"][1]["name"], "sda2");
        let points: Vec<_> = doc["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["mount_point"].clone())
            .collect();
        // `/run` (size 0) is hidden like df hides it.
        assert_eq!(
            points,
            [
                "/dev",
                "/",
                "/media/My Disk",
                "/boot/efi",
                "/mnt/tab\tand\\slash"
            ]
        );
        let root = &doc["mounts"][1];
        assert_eq!(root["usage"]["total_bytes"], 4_096_000);
        assert_eq!(root["usage"]["used_bytes"], 600 * 4096);
        assert_eq!(root["usage"]["inodes_used"], 10);
        assert!(root.get("usage_error").is_none());
        let efi = &doc["mounts"][3];
        assert_eq!(efi["usage"], Value::Null);
        assert_eq!(efi["usage_error"], "statvfs /boot/efi: Permission denied");
        assert!(doc.get("unavailable").is_none());
    }

    #[test]
    fn all_and_one_mount() {
        let all = Options {
            all: true,
            mount_point: None,
        };
        let doc = fixture().report(&all, fake_usage).unwrap();
        assert_eq!(doc["mounts"].as_array().unwrap().len(), 12);

        let one = Options {
            all: false,
            mount_point: Some("/run".into()),
        };
        let doc = fixture().report(&one, fake_usage).unwrap();
        assert_eq!(doc["mounts"].as_array().unwrap().len(), 1);
        assert_eq!(doc["mounts"][0]["usage"]["total_bytes"], 0);

        let unknown = Options {
            all: false,
            mount_point: Some("/srv".into()),
        };
        let err = fixture().report(&unknown, fake_usage).unwrap_err();
        assert_eq!(err.code, 3021);
        assert!(err.message.contains("/srv"), "{}", err.message);
    }

    #[test]
    fn missing_files_degrade() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        let no_mounts = Disks {
            proc_root: root.join("nope"),
            sys_root: root.join("sys"),
        };
        let doc = no_mounts.report(&Options::default(), fake_usage).unwrap();
        assert_eq!(doc["mounts"], Value::Null);
        assert!(
            doc["unavailable"][0].as_str().unwrap().contains("mounts"),
            "{doc}"
        );
        let one = Options {
            all: false,
            mount_point: Some("/".into()),
        };
        assert_eq!(no_mounts.report(&one, fake_usage).unwrap_err().code, 3023);

        let nothing = Disks {
            proc_root: root.join("nope"),
            sys_root: root.join("nope"),
        };
        assert_eq!(
            nothing
                .report(&Options::default(), fake_usage)
                .unwrap_err()
                .code,
            3023
        );
    }
}
