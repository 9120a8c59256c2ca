//! What only a `kind = "redis"` cluster has: the credentials and TLS that its nodes share (as
//! its replicas share `masterauth`), and each node's `address`; and the keys that belong to the
//! other kind, refused in each with the key that does the job there.

use std::path::Path;

use lifeline_model::{RedisNode, RedisTls, Secret};
use toml::Spanned;

use super::fields;
use crate::diagnostics::Report;
use crate::raw::{RawCluster, RawNode};

/// The settings every node of a Redis cluster is reached with.
pub(super) struct Access {
    username: Option<String>,
    password: Option<Secret>,
    tls: Option<RedisTls>,
}

/// `username`, `password`, `tls`, `ca_file` and `allow_insecure` of a Redis cluster.
pub(super) fn access(
    raw: &RawCluster,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<Access> {
    let password = fields::secret(&raw.password, "password", report);
    let username = match &raw.username {
        Some(name) if name.get_ref().is_empty() || name.get_ref().contains(char::is_whitespace) => {
            report.error(
                name.span().start,
                "`username` must be one word (an ACL user), not empty",
            );
            None
        }
        Some(_) if raw.password.is_none() => {
            report.error(
                fields::position(&raw.username).unwrap_or_default(),
                "`username` needs a `password` (Redis's `AUTH username password`)",
            );
            None
        }
        name => Some(name.as_ref().map(|n| n.get_ref().clone())),
    };
    let tls_on = raw.tls.as_ref().is_some_and(|tls| *tls.get_ref());
    let mut valid = true;
    for (key, at) in [
        ("ca_file", fields::position(&raw.ca_file)),
        ("allow_insecure", fields::position(&raw.allow_insecure)),
    ] {
        if let Some(at) = at.filter(|_| !tls_on) {
            report.error(at, format!("`{key}` needs `tls = true`"));
            valid = false;
        }
    }
    let ca_file = fields::file(&raw.ca_file, "ca_file", directory, report);
    let allow_insecure = raw.allow_insecure.as_ref().is_some_and(|a| *a.get_ref());
    let tls = ca_file.map(|ca_file| {
        tls_on.then_some(RedisTls {
            ca_file,
            allow_insecure,
        })
    });
    let (username, password, tls) = (username?, password?, tls?);
    valid.then_some(Access {
        username,
        password,
        tls,
    })
}

/// A node of a Redis cluster: its `address` (`host:port`), required; no `dsn`. Without valid
/// `access` (already reported, and the cluster is not built) it has no credentials, and its
/// address is still checked against the other nodes'.
pub(super) fn node(
    raw: &RawNode,
    at: usize,
    access: Option<&Access>,
    report: &mut Report<'_>,
) -> Option<RedisNode> {
    if let Some(dsn) = &raw.dsn {
        report.error(
            dsn.span().start,
            "a Redis node has no `dsn`: give its `address` (\"host:port\"), and the cluster's \
             `password`",
        );
        return None;
    }
    let address = fields::required(&raw.address, "address", "a node", at, report)?;
    let (host, port) = host_port(address, report)?;
    Some(RedisNode {
        host,
        port,
        username: access.and_then(|a| a.username.clone()),
        password: access.and_then(|a| a.password.clone()),
        tls: access.and_then(|a| a.tls.clone()),
    })
}

/// `host:port` or `[v6]:port`.
fn host_port(address: &Spanned<String>, report: &mut Report<'_>) -> Option<(String, u16)> {
    let text = address.get_ref();
    let parsed = text.rsplit_once(':').and_then(|(host, port)| {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        let clean = !host.is_empty()
            && (host.contains(':') == text.starts_with('['))
            && !host.contains(|c: char| c.is_whitespace() || c == '/' || c == '@');
        clean.then(|| (host.to_string(), port))
    });
    if parsed.is_none() {
        report.error(
            address.span().start,
            format!("`address`: `{text}` is not a host and port like 127.0.0.1:6379"),
        );
    }
    parsed
}

/// In a Redis cluster, the keys of PostgreSQL's: each refused, saying why. Returns whether
/// there were none.
pub(super) fn no_postgres_keys(raw: &RawCluster, report: &mut Report<'_>) -> bool {
    let keys = [
        (
            "synchronous_mode",
            fields::position(&raw.synchronous_mode),
            "Redis replication is asynchronous only",
        ),
        (
            "synchronous_mode_strict",
            fields::position(&raw.synchronous_mode_strict),
            "Redis replication is asynchronous only",
        ),
        (
            "rejoin_command",
            fields::position(&raw.rejoin_command),
            "an old Redis master rejoins by `REPLICAOF` the new one, which Lifeline sends itself",
        ),
    ];
    refuse(&keys, "a Redis cluster", report)
}

/// In a PostgreSQL cluster, the keys of Redis's. Returns whether there were none.
pub(super) fn no_redis_keys(raw: &RawCluster, report: &mut Report<'_>) -> bool {
    let why = "a PostgreSQL node's credentials and TLS are in its `dsn`";
    let keys = [
        ("username", fields::position(&raw.username), why),
        ("password", fields::position(&raw.password), why),
        ("tls", fields::position(&raw.tls), why),
        ("ca_file", fields::position(&raw.ca_file), why),
        ("allow_insecure", fields::position(&raw.allow_insecure), why),
        (
            "sentinel_listen",
            fields::position(&raw.sentinel_listen),
            "Sentinel discovery is Redis's",
        ),
    ];
    refuse(&keys, "a PostgreSQL cluster", report)
}

fn refuse(keys: &[(&str, Option<usize>, &str)], what: &str, report: &mut Report<'_>) -> bool {
    let mut clean = true;
    for (key, at, why) in keys {
        if let Some(at) = at {
            report.error(*at, format!("`{key}` is not a setting of {what}: {why}"));
            clean = false;
        }
    }
    clean
}
