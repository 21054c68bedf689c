//! `getinfo.kernel`: the running kernel as `uname -a`, `/proc/cmdline`, `lsmod` and `sysctl` see it.
//! Files read: `/proc/cmdline`, `/proc/modules`, `/proc/sys/**` (all under the context's proc root).

use std::fs;
use std::path::{Path, PathBuf};

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, Plugin, PluginError};
use serde::Serialize;
use serde_json::{Map, Value};

/// The sysctls reported when `-s` is not given: the ones operators look at first.
const DEFAULT_SYSCTLS: &[&str] = &[
    "kernel.hostname",
    "kernel.osrelease",
    "kernel.pid_max",
    "kernel.threads-max",
    "kernel.randomize_va_space",
    "kernel.panic",
    "fs.file-max",
    "fs.file-nr",
    "vm.swappiness",
    "vm.overcommit_memory",
    "net.core.somaxconn",
    "net.ipv4.ip_forward",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
];

/// The plugin instance: where to read `/proc` from.
pub struct Kernel {
    proc_root: PathBuf,
}

#[derive(Serialize)]
struct Module {
    name: String,
    size: u64,
    instances: u64,
    used_by: Vec<String>,
    state: String,
}

impl Plugin for Kernel {
    const NAME: &'static str = "kernel";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "uname, boot command line, loaded modules and sysctls";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Kernel {
            proc_root: ctx.proc_root(),
        })
    }
}

impl InfoPlugin for Kernel {
    /// Arguments: `-s <name>` (repeatable) picks the sysctls to report, `-M` leaves out modules.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let mut sysctls: Vec<String> = Vec::new();
        let mut with_modules = true;
        let mut parser = args::parser(args)?;
        while let Some(arg) = parser.next().map_err(args::invalid)? {
            match arg {
                Arg::Short('s') | Arg::Long("sysctl") => {
                    let name = parser.value().map_err(args::invalid)?;
                    sysctls.push(name.to_string_lossy().into_owned());
                }
                Arg::Short('M') | Arg::Long("no-modules") => with_modules = false,
                other => return Err(args::unexpected(other)),
            }
        }
        if sysctls.is_empty() {
            sysctls = DEFAULT_SYSCTLS.iter().map(|s| s.to_string()).collect();
        }

        let uts = nix::sys::utsname::uname()
            .map_err(|e| PluginError::failed(format!("uname failed: {e}")))?;
        let text = |s: &std::ffi::OsStr| s.to_string_lossy().into_owned();
        let mut doc = Map::new();
        doc.insert("sysname".into(), text(uts.sysname()).into());
        doc.insert("nodename".into(), text(uts.nodename()).into());
        doc.insert("release".into(), text(uts.release()).into());
        doc.insert("version".into(), text(uts.version()).into());
        doc.insert("machine".into(), text(uts.machine()).into());
        let cmdline = read_trimmed(&self.proc_root.join("cmdline"))?;
        doc.insert("cmdline".into(), cmdline.into());
        let mut unavailable = Vec::new();
        if with_modules {
            // Containers and kernels without module support have no /proc/modules.
            let modules = match read_trimmed(&self.proc_root.join("modules")) {
                Ok(text) => serde_json::to_value(parse_modules(&text)).unwrap_or_default(),
                Err(e) => {
                    unavailable.push(Value::from(format!("modules: {}", e.message)));
                    Value::Null
                }
            };
            doc.insert("modules".into(), modules);
        }
        doc.insert("sysctl".into(), Value::Object(self.sysctls(&sysctls)?));
        doc.insert("unavailable".into(), Value::Array(unavailable));
        Ok(Value::Object(doc))
    }
}

impl Kernel {
    /// Reads each sysctl from `/proc/sys`; an unknown name is an invalid parameter.
    fn sysctls(&self, names: &[String]) -> Result<Map<String, Value>, PluginError> {
        let mut out = Map::new();
        for name in names {
            if name.is_empty() || name.split('.').any(|part| part.is_empty() || part == "..") {
                return Err(PluginError::invalid_params(format!(
                    "bad sysctl name `{name}`"
                )));
            }
            let path = self.proc_root.join("sys").join(name.replace('.', "/"));
            match fs::read_to_string(&path) {
                // Multi-value sysctls are tab separated, as `sysctl` prints them.
                Ok(v) => out.insert(name.clone(), v.trim_end().replace('\t', " ").into()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(PluginError::invalid_params(format!(
                        "no such sysctl `{name}`"
                    )));
                }
                // Some sysctls are readable by root only: report them as unknown.
                Err(_) => out.insert(name.clone(), Value::Null),
            };
        }
        Ok(out)
    }
}

fn read_trimmed(path: &Path) -> Result<String, PluginError> {
    fs::read_to_string(path)
        .map(|s| s.trim_end().to_string())
        .map_err(|e| PluginError::failed(format!("cannot read {}: {e}", path.display())))
}

/// Parses `/proc/modules`: `name size instances used_by state address`.
fn parse_modules(text: &str) -> Vec<Module> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let name = f.next()?.to_string();
            let size = f.next()?.parse().ok()?;
            let instances = f.next()?.parse().ok()?;
            let used_by = f
                .next()?
                .split(',')
                .filter(|m| !m.is_empty() && *m != "-")
                .map(str::to_string)
                .collect();
            let state = f.next().unwrap_or("").to_string();
            Some(Module {
                name,
                size,
                instances,
                used_by,
                state,
            })
        })
        .collect()
}

plugin_api::export_plugin!(Kernel, roles: [info]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_modules() {
        let m = parse_modules(
            "nf_nat 57344 2 xt_MASQUERADE,nft_chain_nat, Live 0x0000000000000000\n\
             crc32c_intel 24576 0 - Live 0x0000000000000000 (E)\n",
        );
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "nf_nat");
        assert_eq!(m[0].size, 57344);
        assert_eq!(m[0].used_by, ["xt_MASQUERADE", "nft_chain_nat"]);
        assert!(m[1].used_by.is_empty());
        assert_eq!(m[1].state, "Live");
    }

    #[test]
    fn rejects_unknown_and_escaping_sysctls() {
        let k = Kernel {
            proc_root: "/proc".into(),
        };
        assert_eq!(k.sysctls(&["no.such.thing".into()]).unwrap_err().code, 3021);
        assert_eq!(k.sysctls(&["..".into()]).unwrap_err().code, 3021);
        let v = k.sysctls(&["kernel.pid_max".into()]).unwrap();
        assert!(v["kernel.pid_max"].as_str().unwrap().parse::<u64>().is_ok());
    }
}
