//! `[store]`: the embedded state file (the default) or etcd, and how to reach etcd.
//!
//! The etcd keys mean nothing to the embedded store, so each one given there is an error naming
//! it rather than a setting silently ignored. The password is a secret: no message quotes it,
//! nor an endpoint that could hold one (`user:password@`) or that came from the environment.

use std::path::Path;
use std::time::Duration;

use lifeline_model::{EtcdSettings, HealthQuorum, HostPort, StoreBackend};
use toml::Spanned;

use super::fields;
use crate::diagnostics::Report;
use crate::raw::{Field, RawStore};

const DEFAULT_PREFIX: &str = "/lifeline";
const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(3);
/// Shorter leases expire on an ordinary network hiccup; longer ones leave the deployment
/// without a leader for too long after a machine dies.
const MIN_LEASE_TTL: Duration = Duration::from_secs(1);
const MAX_LEASE_TTL: Duration = Duration::from_secs(60);

/// Checks `[store]` (absent means the embedded store). TLS file paths are resolved against
/// `directory`, the config file's.
pub(super) fn backend(
    raw: &Field<RawStore>,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<StoreBackend> {
    let Some(spanned) = raw else {
        return Some(StoreBackend::Embedded);
    };
    let raw = spanned.get_ref();
    match raw.backend.as_ref().map(|b| (b.get_ref().as_str(), b)) {
        None | Some(("embedded", _)) => embedded(raw, report),
        Some(("etcd", _)) => etcd(raw, spanned.span().start, directory, report),
        Some((other, text)) => {
            report.error(
                text.span().start,
                format!("`backend` must be \"embedded\" or \"etcd\", not `{other}`"),
            );
            None
        }
    }
}

/// The embedded store takes none of the etcd keys.
fn embedded(raw: &RawStore, report: &mut Report<'_>) -> Option<StoreBackend> {
    let etcd_keys = [
        ("endpoints", fields::position(&raw.endpoints)),
        ("prefix", fields::position(&raw.prefix)),
        ("lease_ttl", fields::position(&raw.lease_ttl)),
        ("username", fields::position(&raw.username)),
        ("password", fields::position(&raw.password)),
        ("ca_file", fields::position(&raw.ca_file)),
        ("cert_file", fields::position(&raw.cert_file)),
        ("key_file", fields::position(&raw.key_file)),
        ("health_quorum", fields::position(&raw.health_quorum)),
    ];
    let mut clean = true;
    for (key, at) in etcd_keys {
        if let Some(at) = at {
            report.error(
                at,
                format!(
                    "`{key}` is an etcd setting, but the store is the embedded one; set \
                     `backend = \"etcd\"` or remove `{key}`"
                ),
            );
            clean = false;
        }
    }
    clean.then_some(StoreBackend::Embedded)
}

fn etcd(
    raw: &RawStore,
    at: usize,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<StoreBackend> {
    let endpoints = endpoints(raw, at, report);
    let prefix = prefix(raw, report);
    let lease_ttl = lease_ttl(raw, report);
    let username = username(raw, report);
    let password = fields::secret(&raw.password, "password", report);
    if let (Some(text), None) = (&raw.username, &raw.password) {
        report.error(text.span().start, "`username` needs a `password`");
    }
    if let (Some(value), None) = (&raw.password, &raw.username) {
        report.error(value.span().start, "`password` needs a `username`");
    }
    let ca_file = fields::file(&raw.ca_file, "ca_file", directory, report);
    let cert_file = fields::file(&raw.cert_file, "cert_file", directory, report);
    let key_file = fields::file(&raw.key_file, "key_file", directory, report);
    let pair_complete = match (&raw.cert_file, &raw.key_file) {
        (Some(text), None) => {
            report.error(text.span().start, "`cert_file` needs a `key_file`");
            false
        }
        (None, Some(text)) => {
            report.error(text.span().start, "`key_file` needs a `cert_file`");
            false
        }
        _ => true,
    };
    let health_quorum = health_quorum(raw, report);
    let credentials_paired = raw.username.is_some() == raw.password.is_some();
    if !(credentials_paired && pair_complete) {
        return None;
    }
    Some(StoreBackend::Etcd(EtcdSettings {
        endpoints: endpoints?,
        prefix: prefix?,
        lease_ttl: lease_ttl?,
        username: username?,
        password: password?,
        ca_file: ca_file?,
        cert_file: cert_file?,
        key_file: key_file?,
        health_quorum: health_quorum?,
    }))
}

/// `endpoints` (required): at least one `http(s)://host:port`.
fn endpoints(raw: &RawStore, at: usize, report: &mut Report<'_>) -> Option<Vec<String>> {
    let list = fields::required(&raw.endpoints, "endpoints", "[store]", at, report)?;
    if list.get_ref().is_empty() {
        report.error(
            list.span().start,
            "`endpoints` is empty; etcd needs at least one, like \"http://127.0.0.1:2379\"",
        );
        return None;
    }
    let checked: Vec<Option<String>> = list
        .get_ref()
        .iter()
        .map(|endpoint| self::endpoint(endpoint, report))
        .collect();
    checked.into_iter().collect()
}

fn endpoint(endpoint: &Spanned<String>, report: &mut Report<'_>) -> Option<String> {
    let text = endpoint.get_ref();
    let valid = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .filter(|rest| !rest.contains(['/', '?', '#', '@']))
        .is_some_and(|rest| HostPort::parse(rest).is_ok());
    if valid {
        return Some(text.clone());
    }
    let quoted = if text.contains('@') || !report.env_ranges(&endpoint.span()).is_empty() {
        "an endpoint".to_string()
    } else {
        format!("`{text}`")
    };
    report.error(
        endpoint.span().start,
        format!(
            "`endpoints`: {quoted} is not like \"http://10.0.0.5:2379\" (http:// or https://, \
             a host and a port, nothing else)"
        ),
    );
    None
}

/// `prefix` (default `/lifeline`): an absolute etcd key path.
fn prefix(raw: &RawStore, report: &mut Report<'_>) -> Option<String> {
    let Some(text) = &raw.prefix else {
        return Some(DEFAULT_PREFIX.to_string());
    };
    let prefix = text.get_ref();
    if !prefix.starts_with('/') {
        report.error(
            text.span().start,
            format!("`prefix` must start with `/`, like \"/lifeline/prod\", not `{prefix}`"),
        );
        return None;
    }
    if let Some(message) = fields::control_character(prefix, "`prefix`") {
        report.error(text.span().start, message);
        return None;
    }
    Some(prefix.clone())
}

/// `lease_ttl` (default 3 s), 1 s to 60 s.
fn lease_ttl(raw: &RawStore, report: &mut Report<'_>) -> Option<Duration> {
    let ttl = fields::duration(&raw.lease_ttl, "lease_ttl", DEFAULT_LEASE_TTL, report)?;
    if (MIN_LEASE_TTL..=MAX_LEASE_TTL).contains(&ttl) {
        return Some(ttl);
    }
    if let Some(text) = &raw.lease_ttl {
        report.error(text.span().start, "`lease_ttl` must be between 1s and 60s");
    }
    None
}

fn username(raw: &RawStore, report: &mut Report<'_>) -> Option<Option<String>> {
    let Some(text) = &raw.username else {
        return Some(None);
    };
    if text.get_ref().is_empty() {
        report.error(text.span().start, "`username` must not be empty");
        return None;
    }
    if let Some(message) = fields::control_character(text.get_ref(), "`username`") {
        report.error(text.span().start, message);
        return None;
    }
    Some(Some(text.get_ref().clone()))
}

/// `health_quorum` (default `majority`).
fn health_quorum(raw: &RawStore, report: &mut Report<'_>) -> Option<HealthQuorum> {
    let Some(text) = &raw.health_quorum else {
        return Some(HealthQuorum::Majority);
    };
    match text.get_ref().as_str() {
        "majority" => Some(HealthQuorum::Majority),
        "any" => Some(HealthQuorum::Any),
        other => {
            report.error(
                text.span().start,
                format!("`health_quorum` must be \"majority\" or \"any\", not `{other}`"),
            );
            None
        }
    }
}
