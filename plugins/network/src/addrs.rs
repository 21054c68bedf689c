//! IPv4 and IPv6 addresses of the interfaces, from `getifaddrs(3)` (there is no file to read).

use std::collections::BTreeMap;
use std::net::IpAddr;

use nix::ifaddrs::InterfaceAddress;
use nix::sys::socket::SockaddrStorage;
use serde::Serialize;

/// One address of an interface.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Address {
    /// `inet` (IPv4) or `inet6` (IPv6), as `ip -j addr` names them.
    pub family: &'static str,
    /// The address in its usual text form.
    pub address: String,
    /// Prefix length from the netmask (`/24`); `None` when the kernel gives no netmask.
    pub prefix_len: Option<u32>,
    /// `host` (loopback), `link` (link-local) or `global`.
    pub scope: &'static str,
}

/// The addresses of every interface, by interface name.
pub type AddressMap = BTreeMap<String, Vec<Address>>;

/// Asks the kernel for every interface address, grouped per interface.
pub fn system_addresses() -> Result<AddressMap, String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {}", e.desc()))?;
    Ok(group(addrs))
}

/// Groups `getifaddrs` entries per interface, keeping only IPv4 and IPv6 ones (no `AF_PACKET`).
pub fn group(addrs: impl IntoIterator<Item = InterfaceAddress>) -> AddressMap {
    let mut map = AddressMap::new();
    for ifa in addrs {
        let Some(address) = ifa.address.as_ref().and_then(ip_of) else {
            continue;
        };
        let prefix_len = ifa.netmask.as_ref().and_then(ip_of).map(prefix_len);
        map.entry(ifa.interface_name).or_default().push(Address {
            family: if address.is_ipv4() { "inet" } else { "inet6" },
            address: address.to_string(),
            prefix_len,
            scope: scope(&address),
        });
    }
    map
}

fn ip_of(addr: &SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = addr.as_sockaddr_in() {
        Some(IpAddr::V4(v4.ip()))
    } else {
        addr.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
    }
}

/// The number of leading one bits of a netmask.
pub fn prefix_len(mask: IpAddr) -> u32 {
    match mask {
        IpAddr::V4(m) => u32::from(m).leading_ones(),
        IpAddr::V6(m) => u128::from(m).leading_ones(),
    }
}

/// The scope `ip addr` would print for an address.
pub fn scope(addr: &IpAddr) -> &'static str {
    match addr {
        a if a.is_loopback() => "host",
        IpAddr::V4(v4) if v4.is_link_local() => "link",
        IpAddr::V6(v6) if v6.is_unicast_link_local() => "link",
        _ => "global",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::net::if_::InterfaceFlags;
    use std::net::SocketAddr;

    fn ifa(name: &str, addr: Option<&str>, mask: Option<&str>) -> InterfaceAddress {
        let sock = |s: &str| {
            let ip: IpAddr = s.parse().unwrap();
            SockaddrStorage::from(SocketAddr::new(ip, 0))
        };
        InterfaceAddress {
            interface_name: name.into(),
            flags: InterfaceFlags::empty(),
            address: addr.map(sock),
            netmask: mask.map(sock),
            broadcast: None,
            destination: None,
        }
    }

    #[test]
    fn groups_addresses_per_interface() {
        let map = group([
            ifa("lo", Some("127.0.0.1"), Some("255.0.0.0")),
            ifa("eth0", Some("192.0.2.2"), Some("255.255.255.0")),
            ifa("wg0", None, None),
            ifa(
                "lo",
                Some("::1"),
                Some("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            ),
            ifa(
                "eth0",
                Some("fe80::fc:ff:fe00:1"),
                Some("ffff:ffff:ffff:ffff::"),
            ),
            ifa("eth0", Some("fd00::2"), None),
        ]);
        assert_eq!(map.keys().collect::<Vec<_>>(), ["eth0", "lo"]);
        let lo = &map["lo"];
        assert_eq!(lo[0].family, "inet");
        assert_eq!(lo[0].address, "127.0.0.1");
        assert_eq!(lo[0].prefix_len, Some(8));
        assert_eq!(lo[0].scope, "host");
        assert_eq!(lo[1].family, "inet6");
        assert_eq!(lo[1].prefix_len, Some(128));
        let eth = &map["eth0"];
        assert_eq!(eth[0].prefix_len, Some(24));
        assert_eq!(eth[0].scope, "global");
        assert_eq!(eth[1].scope, "link");
        assert_eq!(eth[1].prefix_len, Some(64));
        assert_eq!(eth[2].prefix_len, None);
    }

    #[test]
    fn system_has_loopback() {
        let map = system_addresses().unwrap();
        let lo = map.get("lo").expect("lo has addresses");
        assert!(
            lo.iter()
                .any(|a| a.address == "127.0.0.1" && a.prefix_len == Some(8)),
            "{lo:?}"
        );
    }
}
