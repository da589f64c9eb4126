//! Networks as the operator writes them (`10.0.0.0/8`, `::1/128`, a bare address).
//!
//! Invariant: a [`Cidr`] is always in canonical form — an IPv4-mapped IPv6 address
//! (`::ffff:1.2.3.4`) is held as its IPv4 address, and so is every address tested against
//! it — so `127.0.0.1/32` contains the peer `::ffff:127.0.0.1` of a dual-stack socket;
//! and no network contains the unspecified address (`0.0.0.0`, `::`), not even
//! `0.0.0.0/0`: no packet comes from it, so it stands for a caller whose address is not
//! known (see [`super::peer::UNKNOWN_CALLER`]), which must never be trusted or
//! whitelisted.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A network: an address and a prefix length; a bare address is one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl Cidr {
    /// Whether `ip` is inside this network (IPv4-mapped addresses count as IPv4). Never
    /// for the unspecified address, which stands for an unknown caller.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        !ip.is_unspecified() && self.0.contains(&ip)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Split by hand rather than by `IpNet::from_str`, which neither takes a bare address
    /// nor canonicalises `::ffff:a.b.c.d`, and whose errors do not say what was wrong.
    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR network"))?
            .to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        IpNet::new(addr, prefix)
            .map(Cidr)
            .map_err(|e| format!("{s:?}: {e}"))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_what_they_should() {
        let n: Cidr = "10.1.0.0/16".parse().expect("cidr");
        assert!(n.contains("10.1.200.3".parse().expect("ip")));
        assert!(!n.contains("10.2.0.1".parse().expect("ip")));
        assert!(n.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let host: Cidr = "127.0.0.1".parse().expect("host");
        assert!(host.contains("127.0.0.1".parse().expect("ip")));
        assert!(!host.contains("127.0.0.2".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains("8.8.8.8".parse().expect("ip")));
        let v6: Cidr = "fd00::/8".parse().expect("v6");
        assert!(v6.contains("fd12::1".parse().expect("ip")));
        assert!(!v6.contains("10.0.0.1".parse().expect("ip")));
        // The unknown caller is in no network, not even "everything".
        for unknown in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
            let ip: IpAddr = unknown.parse().expect("ip");
            assert!(!all.contains(ip), "{unknown}");
            assert!(
                !"::/0".parse::<Cidr>().expect("all v6").contains(ip),
                "{unknown}"
            );
        }
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
    }

    #[test]
    fn networks_print_as_written_in_canonical_form() {
        for (written, shown) in [
            ("10.1.2.3/16", "10.1.2.3/16"),
            (" 127.0.0.1 ", "127.0.0.1/32"),
            ("::ffff:1.2.3.4", "1.2.3.4/32"),
            ("fd00::/8", "fd00::/8"),
            ("::1", "::1/128"),
        ] {
            assert_eq!(written.parse::<Cidr>().expect("cidr").to_string(), shown);
        }
    }
}
