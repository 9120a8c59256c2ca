//! Which load balancer a request belongs to: the listener address it arrived on, then its `Host`.
//!
//! Several load balancers may share an address and tell themselves apart by hostname. An exact
//! hostname beats a `*.` wildcard (one label), which beats a load balancer without hostnames.

use std::collections::HashMap;
use std::net::SocketAddr;

use lifeline_model::LoadBalancer;

/// The longest hostname DNS allows, plus room for a trailing dot.
const MAX_HOST: usize = 254;

/// Load balancer indices by listener address and hostname.
#[derive(Debug)]
pub(super) struct Listeners {
    by_address: Box<[(SocketAddr, HostTable)]>,
}

#[derive(Debug, Default)]
struct HostTable {
    exact: HashMap<Box<str>, usize>,
    /// `*.example.com` stored as `example.com`.
    wildcard: HashMap<Box<str>, usize>,
    /// The load balancer without hostnames on this address.
    any: Option<usize>,
}

// === impl Listeners ===

impl Listeners {
    /// Indexes `load_balancers`; when two claim the same address and host, the first one wins
    /// (validation rejects that configuration).
    pub(super) fn build(load_balancers: &[LoadBalancer]) -> Self {
        let mut by_address: Vec<(SocketAddr, HostTable)> = Vec::new();
        for (index, load_balancer) in load_balancers.iter().enumerate() {
            for listener in &load_balancer.listeners {
                let position = match by_address
                    .iter()
                    .position(|(address, _)| *address == listener.address)
                {
                    Some(position) => position,
                    None => {
                        by_address.push((listener.address, HostTable::default()));
                        by_address.len() - 1
                    }
                };
                by_address[position].1.add(index, &load_balancer.hostnames);
            }
        }
        Self {
            by_address: by_address.into_boxed_slice(),
        }
    }

    /// The load balancer for a request that arrived on `local` with this `Host` header value.
    /// `local` may be the configured listener address or the accepted socket's own address
    /// (which names the interface when the listener is bound to `0.0.0.0` or `[::]`).
    pub(super) fn find(&self, local: SocketAddr, host: Option<&str>) -> Option<usize> {
        let table = self
            .by_address
            .iter()
            .find(|(address, _)| *address == local)
            .or_else(|| {
                self.by_address.iter().find(|(address, _)| {
                    address.ip().is_unspecified() && address.port() == local.port()
                })
            })
            .map(|(_, table)| table)?;
        table.find(host)
    }
}

// === impl HostTable ===

impl HostTable {
    fn add(&mut self, index: usize, hostnames: &[String]) {
        if hostnames.is_empty() {
            self.any.get_or_insert(index);
        }
        for hostname in hostnames {
            let hostname = hostname.trim_end_matches('.').to_ascii_lowercase();
            match hostname.strip_prefix("*.") {
                Some(domain) => self.wildcard.entry(domain.into()).or_insert(index),
                None => self.exact.entry(hostname.into()).or_insert(index),
            };
        }
    }

    fn find(&self, host: Option<&str>) -> Option<usize> {
        if self.exact.is_empty() && self.wildcard.is_empty() {
            return self.any;
        }
        let mut buffer = [0_u8; MAX_HOST];
        let Some(host) = host.and_then(|host| normalize(host, &mut buffer)) else {
            return self.any;
        };
        if let Some(index) = self.exact.get(host) {
            return Some(*index);
        }
        let wildcard = host
            .split_once('.')
            .filter(|(label, _)| !label.is_empty())
            .and_then(|(_, domain)| self.wildcard.get(domain));
        wildcard.copied().or(self.any)
    }
}

/// `Host` without port and trailing dot, in lower case, written into `buffer` (no allocation).
/// `None` for an empty or impossibly long host.
fn normalize<'b>(host: &str, buffer: &'b mut [u8; MAX_HOST]) -> Option<&'b str> {
    let host = if host.starts_with('[') {
        // `[v6]:port`: keep the bracketed address.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.is_empty() || host.len() > buffer.len() {
        return None;
    }
    let buffer = &mut buffer[..host.len()];
    buffer.copy_from_slice(host.as_bytes());
    buffer.make_ascii_lowercase();
    // Lower-casing ASCII bytes keeps the text valid UTF-8.
    std::str::from_utf8(buffer).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalized(host: &str) -> Option<String> {
        let mut buffer = [0_u8; MAX_HOST];
        normalize(host, &mut buffer).map(str::to_string)
    }

    #[test]
    fn normalize_strips_port_and_dot_and_lowers_case() {
        assert_eq!(
            normalized("WWW.Example.COM:8080").as_deref(),
            Some("www.example.com")
        );
        assert_eq!(normalized("example.com.").as_deref(), Some("example.com"));
        assert_eq!(normalized("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(normalized(""), None);
        assert_eq!(normalized(&"a".repeat(300)), None);
    }
}
