//! The validated, typed form of `lifeline.toml`. Built by `lifeline-config`, immutable afterwards:
//! a reload builds a new one.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::Cluster;
use crate::escalation::Scorecard;
use crate::load_balancer::LoadBalancer;
use crate::names::{MonitorName, OriginName, PoolName};
use crate::notify::Receiver;
use crate::secret::Secret;
use crate::store::{InstanceSettings, StoreBackend};

/// Everything a daemon runs, after parsing and validation.
#[derive(Clone, Debug)]
pub struct Topology {
    pub admin: AdminSettings,
    pub proxy: ProxySettings,
    /// `[store]`: the embedded state file (default) or etcd. Changing it needs a restart.
    pub store: StoreBackend,
    /// `[instance]`: this machine's name. Changing it needs a restart.
    pub instance: InstanceSettings,
    pub monitors: Vec<Monitor>,
    pub pools: Vec<Pool>,
    pub load_balancers: Vec<LoadBalancer>,
    pub clusters: Vec<Cluster>,
    /// `[[scorecard]]`s with their `[[signal]]`s.
    pub scorecards: Vec<Scorecard>,
    /// `[[notify]]`: the receivers of alerts.
    pub receivers: Vec<Receiver>,
}

impl Topology {
    pub fn monitor(&self, name: &str) -> Option<&Monitor> {
        self.monitors.iter().find(|m| m.name.as_str() == name)
    }

    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name.as_str() == name)
    }

    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name.as_str() == name)
    }

    pub fn load_balancer(&self, name: &str) -> Option<&LoadBalancer> {
        self.load_balancers
            .iter()
            .find(|lb| lb.name.as_str() == name)
    }

    /// Every origin with the pool it belongs to, in config order.
    pub fn origins(&self) -> impl Iterator<Item = (&Pool, &Origin)> {
        self.pools
            .iter()
            .flat_map(|pool| pool.origins.iter().map(move |origin| (pool, origin)))
    }
}

/// `[admin]`: the admin API and the daemon's own state.
#[derive(Clone, Debug)]
pub struct AdminSettings {
    /// Where the admin API listens. Default `127.0.0.1:9090`.
    pub listen: SocketAddr,
    /// Bearer token required by every `POST`/`PUT`/`DELETE`. Without one, changes are refused.
    pub token: Option<Secret>,
    /// The embedded state store (event log, manual overrides). Default `lifeline.redb` beside the
    /// config file.
    pub state_file: PathBuf,
    /// How long admin connections may take, and how many may be open.
    pub limits: AdminLimits,
}

/// `[admin]` limits on connections, so that idle or slow clients cannot hold the daemon's file
/// descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminLimits {
    /// A request head must arrive within this, counted from its first byte. Default 10 s.
    pub header_timeout: Duration,
    /// A connection with no request in flight and no byte of a new one is closed after this.
    /// Default 60 s.
    pub idle_timeout: Duration,
    /// Open admin connections at most; more wait in the listen queue. Default 256.
    pub max_connections: usize,
}

impl Default for AdminLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 256,
        }
    }
}

/// `[proxy]`: how long the load balancers' clients may take, and how many connections one
/// listener serves. A client that breaks these limits is cut; none of it counts against an origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProxySettings {
    /// A connection that waits this long for a request's headers, from its opening or its last
    /// answer, is closed (HAProxy's `timeout http-request` and `timeout http-keep-alive`).
    pub idle_timeout: Duration,
    /// Every 64 KiB of a request body (and a shorter body whole) must arrive within this, or the
    /// client gets 408: a minimum upload rate rather than a per-read timeout, so that a body
    /// trickling in a byte at a time is cut too.
    pub client_body_timeout: Duration,
    /// A client that takes none of its answer for this long is cut (nginx's `send_timeout`).
    pub send_timeout: Duration,
    /// Connections one listener serves at once; more clients wait in the kernel's backlog, so
    /// that one listener cannot take every file descriptor from the others.
    pub max_connections: u32,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(10),
            client_body_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// `log_format` of the CLI: human-readable lines or one JSON object per line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

/// `[[monitor]]`: how to check an origin, and how many results it takes to change its health.
#[derive(Clone, Debug)]
pub struct Monitor {
    pub name: MonitorName,
    pub kind: MonitorKind,
    /// Time between two checks of one origin.
    pub interval: Duration,
    /// A check that takes longer fails. Always shorter than `interval`.
    pub timeout: Duration,
    /// Consecutive failures before an origin goes down (seed 001's `retries`, HAProxy's `fall`).
    pub retries: u32,
    /// Consecutive successes before a down origin comes back up.
    pub rise: u32,
}

#[derive(Clone, Debug)]
pub enum MonitorKind {
    /// `http` and `https`.
    Http(HttpCheck),
    /// Connect within the timeout.
    Tcp,
    /// Connect, `SELECT 1`, read the recovery state and WAL positions.
    Postgres(PostgresCheck),
}

impl MonitorKind {
    /// The config's `type` value.
    pub fn type_name(&self) -> &'static str {
        match self {
            MonitorKind::Http(http) if http.tls => "https",
            MonitorKind::Http(_) => "http",
            MonitorKind::Tcp => "tcp",
            MonitorKind::Postgres(_) => "postgres",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpCheck {
    /// `https` rather than `http`.
    pub tls: bool,
    pub method: String,
    /// Request path with query, starting with `/`.
    pub path: String,
    /// Checks go to this port instead of the origin's.
    pub port: Option<u16>,
    /// Extra request headers, `Host` included.
    pub headers: Vec<(String, String)>,
    pub expected_codes: CodeMatcher,
    /// The response body must contain this.
    pub expected_body: Option<String>,
    pub follow_redirects: bool,
    /// Accept self-signed and otherwise invalid certificates.
    pub allow_insecure: bool,
}

#[derive(Clone, Debug)]
pub struct PostgresCheck {
    pub user: String,
    pub password: Option<Secret>,
    pub database: String,
}

/// `[[pool]]`: origins that serve the same thing, checked by one monitor.
#[derive(Clone, Debug)]
pub struct Pool {
    pub name: PoolName,
    /// Without a monitor every enabled origin counts as healthy.
    pub monitor: Option<MonitorName>,
    pub origins: Vec<Origin>,
    /// The pool is down when fewer enabled origins than this are healthy.
    pub minimum_origins: usize,
    /// How the load balancers talk to these origins.
    pub origin_protocol: OriginProtocol,
    /// Consecutive failures of live traffic (connect errors, timeouts, 5xx) that eject an origin
    /// at once, before its monitor notices. 0 turns passive ejection off.
    pub eject_after: u32,
}

/// `origin_protocol` of a pool.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum OriginProtocol {
    #[default]
    Http,
    /// TLS to the origin; `allow_insecure` accepts self-signed certificates.
    Https { allow_insecure: bool },
}

/// One backend address inside a pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub name: OriginName,
    pub address: HostPort,
    /// Share of traffic relative to the pool's other origins.
    pub weight: u32,
    /// A disabled origin is neither checked nor sent traffic.
    pub enabled: bool,
}

/// `host:port`, the host a name or an IP address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    pub host: String,
    pub port: u16,
}

impl HostPort {
    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("`{text}` is not host:port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("`{text}` has no valid port (1-65535)"))?;
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// `expected_codes`: `"200"`, `"2xx"`, `"200,204"`, `"200-299"`, or a mix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeMatcher {
    ranges: Vec<(u16, u16)>,
}

impl CodeMatcher {
    pub fn parse(text: &str) -> Result<Self, String> {
        let ranges = text
            .split(',')
            .map(str::trim)
            .map(|part| {
                parse_code_range(part).ok_or_else(|| {
                    format!(
                        "`{part}` is not a status code, a range like 200-299 or a class like 2xx"
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { ranges })
    }

    pub fn matches(&self, code: u16) -> bool {
        self.ranges
            .iter()
            .any(|(lo, hi)| (*lo..=*hi).contains(&code))
    }
}

impl fmt::Display for CodeMatcher {
    /// The same notation `parse` reads: `200,3xx,401-403`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, &(lo, hi)) in self.ranges.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{lo}")?;
            } else if lo % 100 == 0 && hi == lo + 99 {
                write!(f, "{}xx", lo / 100)?;
            } else {
                write!(f, "{lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

impl Default for CodeMatcher {
    /// Any 2xx.
    fn default() -> Self {
        Self {
            ranges: vec![(200, 299)],
        }
    }
}

fn parse_code_range(part: &str) -> Option<(u16, u16)> {
    let valid = |code: u16| (100..=599).contains(&code).then_some(code);
    if let Some(class) = part.strip_suffix("xx").or_else(|| part.strip_suffix("XX")) {
        let class: u16 = class.parse().ok().filter(|c| (1..=5).contains(c))?;
        return Some((class * 100, class * 100 + 99));
    }
    if let Some((lo, hi)) = part.split_once('-') {
        let (lo, hi) = (
            valid(lo.trim().parse().ok()?)?,
            valid(hi.trim().parse().ok()?)?,
        );
        return (lo <= hi).then_some((lo, hi));
    }
    let code = valid(part.parse().ok()?)?;
    Some((code, code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_matcher_accepts_codes_classes_and_ranges() {
        let matcher = CodeMatcher::parse("200, 3xx,401-403").unwrap();
        for code in [200, 301, 399, 401, 403] {
            assert!(matcher.matches(code), "{code}");
        }
        for code in [201, 400, 404, 500] {
            assert!(!matcher.matches(code), "{code}");
        }
    }

    #[test]
    fn code_matcher_displays_what_it_parses() {
        let matcher = CodeMatcher::parse("200, 3xx,401-403").unwrap();
        assert_eq!(matcher.to_string(), "200,3xx,401-403");
        assert_eq!(CodeMatcher::default().to_string(), "2xx");
    }

    #[test]
    fn code_matcher_rejects_nonsense() {
        for bad in ["", "abc", "6xx", "700", "299-200", "2x"] {
            assert!(CodeMatcher::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn host_port_parses_names_v4_and_v6() {
        assert_eq!(
            HostPort::parse("db.local:5432").unwrap().to_string(),
            "db.local:5432"
        );
        assert_eq!(HostPort::parse("[::1]:80").unwrap().host, "::1");
        assert_eq!(HostPort::parse("[::1]:80").unwrap().to_string(), "[::1]:80");
        assert!(HostPort::parse("nohost").is_err());
        assert!(HostPort::parse("h:0").is_err());
        assert!(HostPort::parse(":80").is_err());
    }
}
