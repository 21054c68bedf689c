//! `getinfo.network`: the network interfaces as `ip -s link` and `ip addr` see them (link state, MAC, MTU, counters, addresses).
//! Files read: `/sys/class/net/*/{ifindex,address,mtu,operstate,carrier,speed,type,device}` and `/proc/net/dev`; addresses via `getifaddrs(3)`.

mod addrs;
mod links;

use std::fs;
use std::path::PathBuf;

use plugin_api::args::{self, lexopt::Arg};
use plugin_api::{InfoPlugin, InitContext, Plugin, PluginError};
use serde::Serialize;
use serde_json::{Value, json};

use addrs::{Address, AddressMap};
use links::{Counters, Link};

/// The plugin instance: where to read `/proc` and `/sys` from.
pub struct Network {
    proc_root: PathBuf,
    sys_root: PathBuf,
}

/// One interface in the answer.
#[derive(Serialize)]
struct Interface {
    #[serde(flatten)]
    link: Link,
    /// `None` when `/proc/net/dev` could not be read or does not list the interface.
    counters: Option<Counters>,
    /// `None` when `getifaddrs` failed; empty when the interface has no address.
    addresses: Option<Vec<Address>>,
}

impl Plugin for Network {
    const NAME: &'static str = "network";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "network interfaces, addresses and traffic counters";

    fn init(ctx: &InitContext) -> Result<Self, PluginError> {
        Ok(Network {
            proc_root: ctx.proc_root(),
            sys_root: ctx.sys_root(),
        })
    }
}

impl InfoPlugin for Network {
    /// Arguments: `-i <name>` reports only that interface.
    fn info(&mut self, args: &str) -> Result<Value, PluginError> {
        let only = parse_args(args)?;
        self.report(only.as_deref(), addrs::system_addresses())
    }
}

impl Network {
    /// Builds the answer from sysfs, `/proc/net/dev` and the given addresses (or why there are
    /// none).
    fn report(
        &self,
        only: Option<&str>,
        addresses: Result<AddressMap, String>,
    ) -> Result<Value, PluginError> {
        let net_dir = self.sys_root.join("class/net");
        let names = match only {
            Some(name) => {
                if !net_dir.join(name).exists() {
                    return Err(PluginError::invalid_params(format!(
                        "no network interface `{name}` in {}",
                        net_dir.display()
                    )));
                }
                vec![name.to_string()]
            }
            None => links::list_names(&net_dir).map_err(|e| {
                PluginError::failed(format!("cannot list {}: {e}", net_dir.display()))
            })?,
        };

        let mut unavailable = Vec::new();
        let net_dev = self.proc_root.join("net/dev");
        let counters = match fs::read_to_string(&net_dev) {
            Ok(text) => Some(links::parse_net_dev(&text)),
            Err(e) => {
                unavailable.push(format!("{}: {e}", net_dev.display()));
                None
            }
        };
        let addresses = match addresses {
            Ok(map) => Some(map),
            Err(e) => {
                unavailable.push(e);
                None
            }
        };

        let interfaces: Vec<Interface> = names
            .iter()
            .map(|name| Interface {
                link: links::read_link(&net_dir, name),
                counters: counters.as_ref().and_then(|c| c.get(name).copied()),
                addresses: addresses
                    .as_ref()
                    .map(|a| a.get(name).cloned().unwrap_or_default()),
            })
            .collect();
        let mut doc = json!({ "interfaces": interfaces });
        if !unavailable.is_empty() {
            doc["unavailable"] = json!(unavailable);
        }
        Ok(doc)
    }
}

/// Parses `-i <name>`; returns the interface asked for, if any.
fn parse_args(args: &str) -> Result<Option<String>, PluginError> {
    let mut only = None;
    let mut parser = args::parser(args)?;
    while let Some(arg) = parser.next().map_err(args::invalid)? {
        match arg {
            Arg::Short('i') | Arg::Long("interface") => {
                let name = parser
                    .value()
                    .map_err(args::invalid)?
                    .to_string_lossy()
                    .into_owned();
                if !links::valid_name(&name) {
                    return Err(PluginError::invalid_params(format!(
                        "`{name}` is not an interface name"
                    )));
                }
                only = Some(name);
            }
            other => return Err(args::unexpected(other)),
        }
    }
    Ok(only)
}

plugin_api::export_plugin!(Network, roles: [info]);

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fixture() -> Network {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        Network::init(&InitContext::rooted_at(&base)).unwrap()
    }

    fn fake_addresses() -> Result<AddressMap, String> {
        let lo = Address {
            family: "inet",
            address: "127.0.0.1".into(),
            prefix_len: Some(8),
            scope: "host",
        };
        Ok(AddressMap::from([("lo".to_string(), vec![lo])]))
    }

    #[test]
    fn parses_arguments() {
        assert_eq!(parse_args("").unwrap(), None);
        assert_eq!(parse_args("-i eth0").unwrap().as_deref(), Some("eth0"));
        assert_eq!(parse_args("--interface=lo").unwrap().as_deref(), Some("lo"));
        for bad in ["-i", "-i ../etc", "-x", "eth0"] {
            assert_eq!(parse_args(bad).unwrap_err().code, 3021, "{bad}");
        }
    }

    #[test]
    fn reports_every_interface() {
        let doc = fixture().report(None, fake_addresses()).unwrap();
        let ifs = doc["interfaces"].as_array().unwrap();
        let names: Vec<_> = ifs.iter().map(|i| i["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["br0", "enp3s0", "lo", "wg0"]);
        let eth = &ifs[1];
        assert_eq!(eth["mac"], "3c:7c:3f:1e:a2:10");
        assert_eq!(eth["kind"], "physical");
        assert_eq!(eth["counters"]["rx_bytes"], 8_734_112_345u64);
        assert_eq!(eth["addresses"], json!([]));
        let lo = &ifs[2];
        assert_eq!(lo["addresses"][0]["address"], "127.0.0.1");
        assert_eq!(lo["addresses"][0]["prefix_len"], 8);
        assert!(doc.get("unavailable").is_none());
    }

    #[test]
    fn one_interface_or_3021() {
        let doc = fixture().report(Some("lo"), fake_addresses()).unwrap();
        assert_eq!(doc["interfaces"].as_array().unwrap().len(), 1);
        assert_eq!(doc["interfaces"][0]["mtu"], 65536);
        let err = fixture()
            .report(Some("eth9"), fake_addresses())
            .unwrap_err();
        assert_eq!(err.code, 3021);
        assert!(err.message.contains("eth9"), "{}", err.message);
    }

    #[test]
    fn missing_sources_degrade() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/basic");
        let net = Network {
            proc_root: root.join("nope"),
            sys_root: root.join("sys"),
        };
        let doc = net
            .report(None, Err("getifaddrs: Permission denied".into()))
            .unwrap();
        assert_eq!(doc["interfaces"][0]["counters"], Value::Null);
        assert_eq!(doc["interfaces"][0]["addresses"], Value::Null);
        assert_eq!(doc["unavailable"].as_array().unwrap().len(), 2, "{doc}");

        let nothing = Network {
            proc_root: root.join("proc"),
            sys_root: root.join("nope"),
        };
        assert_eq!(
            nothing.report(None, fake_addresses()).unwrap_err().code,
            3023
        );
    }
}
