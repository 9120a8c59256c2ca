//! Where a load balancer listens (addresses and TLS files), which hosts it answers, and the checks
//! between load balancers that share an address.
//!
//! Several load balancers may listen on one address when their `hostnames` tell requests apart;
//! they then share one socket, so they must also agree on TLS. These checks need every load
//! balancer, so each one leaves its [`Claims`] and [`shared_addresses`] runs after all of them.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use lifeline_model::{Listener, TlsFiles};
use toml::Spanned;

use super::endpoints::{Endpoint, Owner};
use super::fields;
use super::load_balancer::SECTION;
use crate::diagnostics::Report;
use crate::raw::{RawListen, RawListenItem, RawListenTable, RawLoadBalancer};

const LISTEN_SECTION: &str = "a `listen` table";
const MAX_HOSTNAME: usize = 253;
const MAX_LABEL: usize = 63;

/// What one load balancer claims, for the checks between load balancers.
pub(super) struct Claims {
    /// `None` when the load balancer has no name (already reported).
    pub name: Option<String>,
    /// Its valid addresses.
    pub listeners: Vec<ListenerClaim>,
    /// Its valid hostnames, lower-cased, with their positions.
    pub hostnames: Vec<(String, usize)>,
    /// No `hostnames`: it takes every host.
    pub any_host: bool,
}

/// One valid listen address.
pub(super) struct ListenerClaim {
    address: SocketAddr,
    /// `None` when its TLS files were invalid (already reported).
    tls: Option<Option<TlsFiles>>,
    at: usize,
}

/// `hostnames`: the list when every entry is valid, and the valid entries with their positions.
pub(super) struct Hostnames {
    pub valid: Option<Vec<String>>,
    pub claimed: Vec<(String, usize)>,
}

/// `listen` (required): one entry or an array, each an address or a table with TLS files.
pub(super) fn listeners(
    raw: &RawLoadBalancer,
    at: usize,
    directory: &Path,
    report: &mut Report<'_>,
) -> (Option<Vec<Listener>>, Vec<ListenerClaim>) {
    let mut claims = Vec::new();
    let Some(listen) = fields::required(&raw.listen, "listen", SECTION, at, report) else {
        return (None, claims);
    };
    let items: Vec<(&RawListenItem, usize)> = match listen.get_ref() {
        RawListen::One(item) => vec![(item, listen.span().start)],
        RawListen::Many(items) if items.is_empty() => {
            report.error(
                listen.span().start,
                "`listen` is empty; a load balancer needs at least one address",
            );
            return (None, claims);
        }
        RawListen::Many(items) => items
            .iter()
            .map(|item| (item.get_ref(), item.span().start))
            .collect(),
    };
    let checked: Vec<Option<Listener>> = items
        .into_iter()
        .map(|(item, at)| {
            let (address, tls) = match item {
                RawListenItem::Address(text) => (address(text, "listen", at, report), Some(None)),
                RawListenItem::Table(table) => {
                    let address =
                        fields::required(&table.address, "address", LISTEN_SECTION, at, report)
                            .and_then(|a| address(a.get_ref(), "address", a.span().start, report));
                    (address, tls(table, directory, report))
                }
            };
            let (address, at) = address?;
            claims.push(ListenerClaim {
                address,
                tls: tls.clone(),
                at,
            });
            Some(Listener { address, tls: tls? })
        })
        .collect();
    (checked.into_iter().collect(), claims)
}

/// An IP address and port, with its position.
fn address(
    text: &str,
    key: &str,
    at: usize,
    report: &mut Report<'_>,
) -> Option<(SocketAddr, usize)> {
    match text.parse() {
        Ok(address) => Some((address, at)),
        Err(_) => {
            report.error(
                at,
                format!("`{key}`: `{text}` is not an IP address and port like 127.0.0.1:8080"),
            );
            None
        }
    }
}

/// `tls_certificate` and `tls_key`: both or neither, each a readable file.
fn tls(
    table: &RawListenTable,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<Option<TlsFiles>> {
    match (&table.tls_certificate, &table.tls_key) {
        (None, None) => Some(None),
        (Some(certificate), Some(key)) => {
            let certificate = readable(certificate, "tls_certificate", directory, report);
            let key = readable(key, "tls_key", directory, report);
            Some(Some(TlsFiles {
                certificate: certificate?,
                key: key?,
            }))
        }
        (Some(one), None) | (None, Some(one)) => {
            let (given, missing) = if table.tls_key.is_none() {
                ("tls_certificate", "tls_key")
            } else {
                ("tls_key", "tls_certificate")
            };
            report.error(
                one.span().start,
                format!("`{given}` without `{missing}`; give both or neither"),
            );
            None
        }
    }
}

/// A file that exists and can be opened, relative to `directory`.
fn readable(
    path: &Spanned<String>,
    key: &str,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<PathBuf> {
    let at = path.span().start;
    if path.get_ref().is_empty() {
        report.error(at, format!("`{key}` must not be empty"));
        return None;
    }
    let full = directory.join(path.get_ref());
    match File::open(&full).and_then(|file| file.metadata()) {
        Ok(metadata) if metadata.is_file() => Some(full),
        Ok(_) => {
            report.error(at, format!("`{key}`: `{}` is not a file", full.display()));
            None
        }
        Err(error) => {
            report.error(
                at,
                format!("`{key}`: cannot read `{}`: {error}", full.display()),
            );
            None
        }
    }
}

/// `hostnames` (optional): lower-cased, no ports, `*.` only as the first label, none twice.
pub(super) fn hostnames(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Hostnames {
    let Some(list) = &raw.hostnames else {
        return Hostnames {
            valid: Some(Vec::new()),
            claimed: Vec::new(),
        };
    };
    let mut valid = true;
    let mut claimed: Vec<(String, usize)> = Vec::new();
    for host in list.get_ref() {
        let at = host.span().start;
        match hostname(host.get_ref()) {
            Err(message) => {
                report.error(at, message);
                valid = false;
            }
            Ok(name) if claimed.iter().any(|(seen, _)| *seen == name) => {
                report.error(
                    at,
                    format!("hostname `{name}` appears twice in `hostnames`"),
                );
                valid = false;
            }
            Ok(name) => claimed.push((name, at)),
        }
    }
    Hostnames {
        valid: valid.then(|| claimed.iter().map(|(name, _)| name.clone()).collect()),
        claimed,
    }
}

fn hostname(text: &str) -> Result<String, String> {
    let name = text.to_ascii_lowercase();
    if name.contains(':') {
        return Err(format!(
            "hostname `{text}` has a port; hostnames match requests on any port"
        ));
    }
    let labels = name.strip_prefix("*.").unwrap_or(&name);
    if labels.contains('*') {
        return Err(format!(
            "hostname `{text}`: `*` is allowed only as the whole first label, as in `*.example.com`"
        ));
    }
    if name.len() > MAX_HOSTNAME || !labels.split('.').all(is_label) {
        return Err(format!(
            "`{text}` is not a hostname like api.example.com or *.example.com"
        ));
    }
    Ok(name)
}

fn is_label(label: &str) -> bool {
    (1..=MAX_LABEL).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Every valid listen address of every load balancer, for the checks against clusters.
pub(super) fn endpoints(all: &[Claims]) -> Vec<Endpoint> {
    all.iter()
        .flat_map(|lb| {
            lb.listeners.iter().map(|listener| Endpoint {
                address: listener.address,
                owner: Owner::LoadBalancer(lb.name.clone()),
                at: listener.at,
            })
        })
        .collect()
}

/// Checks listen addresses against `[admin] listen`, within one load balancer, and between load
/// balancers: on a shared address at most one may take every host, no hostname may be claimed
/// twice, and all must agree on TLS. Each problem is reported on the later load balancer.
pub(super) fn shared_addresses(all: &[Claims], admin: Option<SocketAddr>, report: &mut Report<'_>) {
    for (index, lb) in all.iter().enumerate() {
        let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
        let mut reported = Reported::default();
        for listener in &lb.listeners {
            let address = listener.address;
            if admin == Some(address) {
                report.error(
                    listener.at,
                    format!("`{address}` is the admin API's address (`listen` in [admin])"),
                );
            }
            if let Some(&first) = seen.get(&address) {
                report.error(
                    listener.at,
                    format!(
                        "`{address}` appears twice in `listen` (first on line {})",
                        report.line_of(first)
                    ),
                );
                continue;
            }
            seen.insert(address, listener.at);
            // Port 0 asks for any free port: no two such listeners share one.
            if address.port() == 0 {
                continue;
            }
            for (other_index, other) in all[..index].iter().enumerate() {
                if let Some(theirs) = other.listeners.iter().find(|l| l.address == address) {
                    let pair = Pair {
                        lb,
                        listener,
                        other,
                        other_index,
                        theirs,
                    };
                    pair.check(&mut reported, report);
                }
            }
        }
    }
}

/// What one load balancer has reported already, so a conflict is reported once.
#[derive(Default)]
struct Reported {
    /// Earlier load balancers it was told apart from.
    apart: HashSet<usize>,
    hostnames: HashSet<String>,
    /// Its listeners whose TLS was compared, by position.
    tls: HashSet<usize>,
}

/// A listener of `lb` and a listener of an earlier load balancer on the same address.
struct Pair<'a> {
    lb: &'a Claims,
    listener: &'a ListenerClaim,
    other: &'a Claims,
    other_index: usize,
    theirs: &'a ListenerClaim,
}

// === impl Pair ===

impl Pair<'_> {
    fn check(&self, reported: &mut Reported, report: &mut Report<'_>) {
        let address = self.listener.address;
        let other = self.other.name.as_deref().unwrap_or("(unnamed)");
        let their_line = report.line_of(self.theirs.at);
        if self.lb.any_host && self.other.any_host && reported.apart.insert(self.other_index) {
            report.error(
                self.listener.at,
                format!(
                    "load balancer `{other}` (line {their_line}) also listens on `{address}` \
                     without `hostnames`; give one of them `hostnames` to tell requests apart"
                ),
            );
        }
        for (host, at) in &self.lb.hostnames {
            let Some((_, their_at)) = self.other.hostnames.iter().find(|(h, _)| h == host) else {
                continue;
            };
            if reported.hostnames.insert(host.clone()) {
                report.error(
                    *at,
                    format!(
                        "hostname `{host}` on `{address}` is already claimed by load balancer \
                         `{other}` (line {})",
                        report.line_of(*their_at)
                    ),
                );
            }
        }
        if let (Some(mine), Some(theirs)) = (&self.listener.tls, &self.theirs.tls)
            && reported.tls.insert(self.listener.at)
            && mine != theirs
        {
            report.error(
                self.listener.at,
                format!(
                    "`{address}` is also a listener of load balancer `{other}` (line \
                     {their_line}) with other TLS settings; listeners on one address must \
                     use the same certificate and key, or all be plain HTTP"
                ),
            );
        }
    }
}
