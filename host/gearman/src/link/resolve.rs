//! Server lists and name resolution: `"config.cargo.com"`, `"a:8443,b"` (the seed's redirect
//! shape) become addresses to try in order, every address a name resolves to, in turn.
//!
//! An optional hosts file in `/etc/hosts` syntax is consulted before the system resolver, so a
//! test (or an operator) can give one name several addresses without touching `/etc/hosts`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// One entry of a server list: a host name or address and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerName {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// Parses a comma-separated `host[:port]` list; entries without a port get `default_port`.
/// Empty entries (the seed's `"192.168.9.1:1234,"`) are skipped.
pub fn parse_list(list: &str, default_port: u16) -> Result<Vec<ServerName>, String> {
    let mut servers = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        servers.push(parse_one(entry, default_port)?);
    }
    if servers.is_empty() {
        return Err(format!("no server in `{list}`"));
    }
    Ok(servers)
}

fn parse_one(entry: &str, default_port: u16) -> Result<ServerName, String> {
    // `[v6]:port`, `v6`, `host:port`, `host`.
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad server `{entry}`"))?;
        let port = match tail.strip_prefix(':') {
            Some(port) => port.parse().map_err(|_| format!("bad port in `{entry}`"))?,
            None => default_port,
        };
        return Ok(ServerName {
            host: host.into(),
            port,
        });
    }
    if entry.parse::<IpAddr>().is_ok() {
        return Ok(ServerName {
            host: entry.into(),
            port: default_port,
        });
    }
    match entry.rsplit_once(':') {
        Some((host, port)) => Ok(ServerName {
            host: host.into(),
            port: port.parse().map_err(|_| format!("bad port in `{entry}`"))?,
        }),
        None => Ok(ServerName {
            host: entry.into(),
            port: default_port,
        }),
    }
}

/// Every address of `server`, in order: the hosts file's lines first, else the system resolver.
pub async fn resolve(server: &ServerName, hosts_file: Option<&Path>) -> Vec<SocketAddr> {
    if let Ok(ip) = server.host.parse::<IpAddr>() {
        return vec![SocketAddr::new(ip, server.port)];
    }
    if let Some(path) = hosts_file {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let found = lookup_hosts_text(&text, &server.host);
                if !found.is_empty() {
                    return found
                        .into_iter()
                        .map(|ip| SocketAddr::new(ip, server.port))
                        .collect();
                }
            }
            Err(e) => tracing::warn!("cannot read hosts file {}: {e}", path.display()),
        }
    }
    match tokio::net::lookup_host((server.host.as_str(), server.port)).await {
        Ok(addrs) => {
            let mut seen = Vec::new();
            for addr in addrs {
                if !seen.contains(&addr) {
                    seen.push(addr);
                }
            }
            seen
        }
        Err(e) => {
            tracing::warn!("cannot resolve {}: {e}", server.host);
            Vec::new()
        }
    }
}

/// The addresses `name` has in hosts-file text, in line order.
pub fn lookup_hosts_text(text: &str, name: &str) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if fields.any(|alias| alias.eq_ignore_ascii_case(name)) && !found.contains(&ip) {
            found.push(ip);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_take_ports_defaults_and_skip_empty_entries() {
        let list = parse_list("127.0.10.1,10.92.1.130:9000, [::1]:7 ,", 8443).unwrap();
        let ports: Vec<_> = list.iter().map(|s| (s.host.as_str(), s.port)).collect();
        assert_eq!(
            ports,
            [("127.0.10.1", 8443), ("10.92.1.130", 9000), ("::1", 7)]
        );
        assert!(parse_list(" , ", 1).is_err());
        assert!(parse_list("host:notaport", 1).is_err());
    }

    #[test]
    fn hosts_text_gives_every_line_of_a_name_in_order() {
        let text = "127.0.0.1 localhost\n# 10.0.0.9 config.cargo.com\n\
                    127.0.0.1 config.cargo.com\n127.0.0.2 other config.cargo.com\n\
                    127.0.0.3 CONFIG.cargo.com # third\n";
        let ips: Vec<String> = lookup_hosts_text(text, "config.cargo.com")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(ips, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]);
        assert!(lookup_hosts_text(text, "nowhere").is_empty());
    }
}
