//! The six placement filters, the `node.ip` matcher and platform normalization.

use std::net::IpAddr;

/// A placement filter. A node passes a task when it passes all of them; the
/// declaration order is the order they run in, and the order of ties in a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Filter {
    /// The node is ready and its availability is active.
    Ready,
    /// The group's CPU and memory reservations fit in what the node has available.
    Resources,
    /// Every constraint of the group holds on the node.
    Constraints,
    /// The node's OS and architecture are among the group's platforms.
    Platform,
    /// None of the group's host-mode ports is already published on the node.
    HostPorts,
    /// The node runs fewer tasks of the service than the group's per-node maximum.
    MaxReplicas,
}

impl Filter {
    /// All filters, in the order they run.
    pub const ALL: [Filter; 6] = [
        Filter::Ready,
        Filter::Resources,
        Filter::Constraints,
        Filter::Platform,
        Filter::HostPorts,
        Filter::MaxReplicas,
    ];

    /// Docker's text for `nodes` nodes failing this filter, e.g. `insufficient resources on 2 nodes`.
    pub fn describe(self, nodes: usize) -> String {
        let n = if nodes == 1 {
            "1 node".to_string()
        } else {
            format!("{nodes} nodes")
        };
        match self {
            Filter::Ready => format!("{n} not available for new tasks"),
            Filter::Resources => format!("insufficient resources on {n}"),
            Filter::Constraints => format!("scheduling constraints not satisfied on {n}"),
            Filter::Platform => format!("unsupported platform on {n}"),
            Filter::HostPorts => format!("host-mode port already in use on {n}"),
            Filter::MaxReplicas => format!("max replicas per node limit exceed on {n}"),
        }
    }
}

/// The value of a `node.ip` constraint: an address (a network of full length) or a CIDR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpNet {
    addr: IpAddr,
    prefix: u32,
}

impl IpNet {
    /// Parses `ADDR` or `ADDR/PREFIX` (decimal prefix, at most the address length);
    /// `None` when the text is neither, and the constraint then compares as a string.
    pub(crate) fn parse(text: &str) -> Option<IpNet> {
        let (addr_text, prefix_text) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                // All digits, so the only failure is overflow: too long to be a prefix.
                let prefix: u32 = p.parse().ok()?;
                if prefix > max {
                    return None;
                }
                prefix
            }
        };
        Some(IpNet { addr, prefix })
    }

    /// True when `ip` is this address or lies inside this network (same family only).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Parses a node's `node.ip` attribute as a single address.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// ASCII-lowercases an OS name for platform comparison.
pub(crate) fn normalize_os(os: &str) -> String {
    os.to_ascii_lowercase()
}

/// ASCII-lowercases an architecture and maps its aliases (`x86_64` is `amd64`,
/// `aarch64` is `arm64`).
pub(crate) fn normalize_arch(arch: &str) -> String {
    let arch = arch.to_ascii_lowercase();
    match arch.as_str() {
        "x86_64" => "amd64".to_string(),
        "aarch64" => "arm64".to_string(),
        _ => arch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_contains_addresses_of_its_network_only() {
        let net = IpNet::parse("10.0.1.7/24").unwrap();
        assert!(net.contains(ip("10.0.1.200")));
        assert!(!net.contains(ip("10.0.2.1")));
        assert!(!net.contains(ip("::ffff:10.0.1.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
    }

    #[test]
    fn malformed_networks_do_not_parse() {
        for text in [
            "",
            "10.0.0.1/",
            "10.0.0.1/33",
            "10.0.0.1/+8",
            "01.0.0.1",
            "fe80::1%eth0",
        ] {
            assert_eq!(IpNet::parse(text), None, "{text}");
        }
    }

    #[test]
    fn plural_and_singular_reason_texts() {
        assert_eq!(
            Filter::Ready.describe(1),
            "1 node not available for new tasks"
        );
        assert_eq!(
            Filter::MaxReplicas.describe(3),
            "max replicas per node limit exceed on 3 nodes"
        );
    }
}
