//! Who the client is: the peer address, or behind trusted proxies the right-most
//! `X-Forwarded-For` address that is not one of them (never the first entry, which the client
//! itself may have written).

use crate::config::ServerConfig;
use ipnet::IpNet;
use poem::Request;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Resolves client addresses. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clients {
    trusted: Arc<[IpNet]>,
}

impl Clients {
    /// Clients behind the trusted proxies of `config`.
    pub fn new(config: &ServerConfig) -> Self {
        Self {
            trusted: config.trusted_proxies.iter().copied().collect(),
        }
    }

    /// The client of `req`; `None` when the server has no peer address.
    pub fn of(&self, req: &Request) -> Option<IpAddr> {
        let peer = req.remote_addr().as_socket_addr()?.ip();
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        Some(self.resolve(peer, forwarded))
    }

    /// The client, given the `peer` address and the `X-Forwarded-For` header lines in order.
    /// Walking from the right, each address a trusted proxy appended is skipped; the first
    /// other one is the client. When every entry is a trusted proxy, the left-most is; an
    /// entry that is not an address ends the walk at the proxy that passed it on.
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded: impl Iterator<Item = &'a str>) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusted(client) {
            return client;
        }
        let entries: Vec<&str> = forwarded.flat_map(|line| line.split(',')).collect();
        for entry in entries.into_iter().rev() {
            let Some(address) = parse(entry.trim()) else {
                break;
            };
            client = address;
            if !self.trusted(address) {
                break;
            }
        }
        client
    }

    fn trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&address))
    }
}

/// An address as proxies write it: `1.2.3.4`, `2001:db8::1`, or with a port.
fn parse(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients(trusted: &[&str]) -> Clients {
        let config = ServerConfig {
            trusted_proxies: trusted.iter().map(|t| t.parse().expect("net")).collect(),
            ..ServerConfig::default()
        };
        Clients::new(&config)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let c = clients(&["10.0.0.0/8"]);
        assert_eq!(
            c.resolve(ip("203.0.113.9"), ["1.1.1.1"].into_iter()),
            ip("203.0.113.9")
        );
        assert_eq!(
            clients(&[]).resolve(ip("127.0.0.1"), ["1.1.1.1"].into_iter()),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let c = clients(&["10.0.0.0/8", "127.0.0.1/32"]);
        // The client wrote a fake first entry; nginx appended the real peer.
        let xff = ["6.6.6.6, 198.51.100.7"];
        assert_eq!(
            c.resolve(ip("127.0.0.1"), xff.into_iter()),
            ip("198.51.100.7")
        );
        // Two proxies, across two header lines.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.2.3"];
        assert_eq!(
            c.resolve(ip("127.0.0.1"), xff.into_iter()),
            ip("198.51.100.7")
        );
        // Only proxies: the left-most.
        assert_eq!(
            c.resolve(ip("127.0.0.1"), ["10.9.9.9"].into_iter()),
            ip("10.9.9.9")
        );
        // No header: the proxy itself.
        assert_eq!(
            c.resolve(ip("127.0.0.1"), std::iter::empty()),
            ip("127.0.0.1")
        );
        // Garbage stops the walk at the proxy that passed it on.
        let xff = ["1.1.1.1, not-an-ip, 10.0.0.2"];
        assert_eq!(c.resolve(ip("127.0.0.1"), xff.into_iter()), ip("10.0.0.2"));
        // Ports and IPv4-mapped peers.
        assert_eq!(
            c.resolve(ip("::ffff:127.0.0.1"), ["198.51.100.7:5555"].into_iter()),
            ip("198.51.100.7")
        );
    }
}
