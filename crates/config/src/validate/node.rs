//! A cluster's `nodes`: their names, connection strings and failover preferences.
//!
//! A connection string holds a password, often taken from `${VAR}`, so it needs more care than
//! other values: a message about it quotes a part of it only when that part overlaps neither a
//! variable's value nor anything from the first `password=` on, and names the key otherwise.
//! Which bytes are which comes from the expansion and the parser's byte ranges, never from
//! guessing at what the text says.

use std::collections::HashMap;
use std::ops::Range;

use lifeline_model::{
    ClusterNode, DSN_KEYS, DsnError, DsnProblem, NodeConnection, NodeName, PgDsn, SslMode,
};
use toml::Spanned;

use super::fields::{self, Names};
use super::redis::{self, Access};
use crate::diagnostics::Report;
use crate::raw::{RawCluster, RawNode};

const NODE_SECTION: &str = "a node";
const MIN_NODES: usize = 2;
const MAX_PRIORITY: i64 = 1000;

/// The cluster whose nodes are checked, and what the rest of the file says about nodes.
pub(super) struct Context<'a> {
    /// Its position in the file, and among the clusters.
    pub at: usize,
    pub index: usize,
    /// `None` when it has no valid name (already reported).
    pub name: Option<&'a str>,
    /// Every origin name in the file: nodes share the admin API with origins.
    pub origins: &'a Names,
    /// Which kind of node it has: a PostgreSQL node has a `dsn`, a Redis node an `address`.
    pub kind: NodeKind<'a>,
}

pub(super) enum NodeKind<'a> {
    Postgres,
    /// With the cluster's shared settings; `None` when they are invalid (already reported).
    Redis(Option<&'a Access>),
}

/// The servers (`host:port`) that every cluster's nodes have named so far, so that no server is
/// named twice, in one cluster or in two.
#[derive(Default)]
pub(super) struct Servers {
    first: HashMap<(String, u16), Server>,
}

struct Server {
    node: Option<String>,
    cluster: usize,
    cluster_name: Option<String>,
    at: usize,
}

/// `nodes` (required): at least two, each valid, names unique in the cluster.
pub(super) fn nodes(
    raw: &RawCluster,
    section: &str,
    cx: &Context<'_>,
    servers: &mut Servers,
    report: &mut Report<'_>,
) -> Option<Vec<ClusterNode>> {
    let nodes = fields::required(&raw.nodes, "nodes", section, cx.at, report)?;
    let count = nodes.get_ref().len();
    if count < MIN_NODES {
        report.error(
            nodes.span().start,
            format!(
                "`nodes` has {count} node(s); a cluster needs at least {MIN_NODES}, a primary and a standby"
            ),
        );
    }
    let mut names = Names::new("node");
    let checked: Vec<Option<ClusterNode>> = nodes
        .get_ref()
        .iter()
        .map(|node| self::node(node, cx, &mut names, servers, report))
        .collect();
    let checked: Option<Vec<ClusterNode>> = checked.into_iter().collect();
    checked.filter(|_| count >= MIN_NODES)
}

fn node(
    spanned: &Spanned<RawNode>,
    cx: &Context<'_>,
    names: &mut Names,
    servers: &mut Servers,
    report: &mut Report<'_>,
) -> Option<ClusterNode> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, NODE_SECTION, at, report)
        .and_then(|name| self::name(name, cx.origins, names, report));
    let connection = connection(raw, at, cx, report);
    if let Some(connection) = &connection {
        let node = raw.name.as_ref().map(|n| n.get_ref().clone());
        let position = fields::position(&raw.dsn).or(fields::position(&raw.address));
        servers.claim(connection, node, position.unwrap_or(at), cx, report);
    }
    let priority = fields::integer(&raw.priority, "priority", 0, 0..=MAX_PRIORITY, report)
        .and_then(|priority| u32::try_from(priority).ok());
    Some(ClusterNode {
        name: name?,
        connection: connection?,
        priority: priority?,
        no_failover: is_no_failover(raw),
    })
}

/// How Lifeline connects to the node: a Redis node's `address`, a PostgreSQL node's `dsn`.
fn connection(
    raw: &RawNode,
    at: usize,
    cx: &Context<'_>,
    report: &mut Report<'_>,
) -> Option<NodeConnection> {
    if let NodeKind::Redis(access) = cx.kind {
        return redis::node(raw, at, access, report).map(NodeConnection::Redis);
    }
    if let Some(address) = &raw.address {
        report.error(
            address.span().start,
            "a PostgreSQL node has no `address`: its `dsn` says where it is and how to log in",
        );
        return None;
    }
    let value = fields::required(&raw.dsn, "dsn", NODE_SECTION, at, report)?;
    let dsn = self::dsn(value, report)?;
    root_cert(&dsn, value.span().start, report);
    Some(NodeConnection::Postgres(dsn))
}

/// A node name: unique in its cluster, and not an origin's name.
fn name(
    name: &Spanned<String>,
    origins: &Names,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<NodeName> {
    names.claim(name, report);
    if let Some(origin) = origins.first(name.get_ref()) {
        report.error(
            name.span().start,
            format!(
                "`{}` is already the name of an origin (line {}); node and origin names must \
                 differ, as both appear in the admin API",
                name.get_ref(),
                report.line_of(origin)
            ),
        );
        return None;
    }
    Some(NodeName::new(name.get_ref().as_str()))
}

/// `no_failover` (default false).
pub(super) fn is_no_failover(raw: &RawNode) -> bool {
    raw.no_failover.as_ref().is_some_and(|flag| *flag.get_ref())
}

/// A libpq connection string. Messages never quote it whole, and quote a part of it only when
/// that part cannot be a secret.
fn dsn(value: &Spanned<toml::Value>, report: &mut Report<'_>) -> Option<PgDsn> {
    let at = value.span().start;
    let toml::Value::String(text) = value.get_ref() else {
        report.error(
            at,
            format!("`dsn` must be a string, not {}", value.get_ref().type_str()),
        );
        return None;
    };
    PgDsn::parse(text)
        .map_err(|error| {
            let message = dsn_message(&error, text, report.env_ranges(&value.span()));
            report.error(at, message);
        })
        .ok()
}

/// `sslrootcert`, when given: a file Lifeline can read now that holds a PEM certificate, so
/// that a wrong path stops the start (or the reload) rather than every connection to the node.
/// Its certificates are parsed when connecting, which reads the file again (as libpq does), so
/// a CA file replaced later is picked up on the next connection.
fn root_cert(dsn: &PgDsn, at: usize, report: &mut Report<'_>) {
    let Some(path) = &dsn.sslrootcert else {
        return;
    };
    let problem = match std::fs::metadata(path).and_then(|meta| {
        if !meta.is_file() {
            return Ok(Some("is not a file".to_string()));
        }
        let text = std::fs::read(path)?;
        let pem = String::from_utf8_lossy(&text).contains("-----BEGIN CERTIFICATE-----");
        Ok((!pem).then(|| "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_string()))
    }) {
        Ok(None) => return,
        Ok(Some(problem)) => problem,
        Err(error) => format!("cannot be read: {error}"),
    };
    report.error(at, format!("`sslrootcert` `{path}` {problem}"));
}

/// What is wrong with the connection string `text`. `from_env` are the byte ranges of it that
/// came from the environment: no part of the text that overlaps them, or that comes at or after
/// the first password, is quoted.
fn dsn_message(error: &DsnError, text: &str, from_env: &[Range<usize>]) -> String {
    let hidden = |range: &Range<usize>| {
        if from_env
            .iter()
            .any(|r| r.start < range.end && range.start < r.end)
        {
            Some("it takes text from the environment")
        } else if error.password_at.is_some_and(|p| range.end > p) {
            Some("it may be part of the password")
        } else {
            None
        }
    };
    let key = match hidden(&error.key) {
        None => format!("`{}`", &text[error.key.clone()]),
        Some(_) => "a key".to_string(),
    };
    let keys = DSN_KEYS.join(", ");
    match (error.problem, hidden(&error.key), hidden(&error.value)) {
        (DsnProblem::NoValue, None, _) => format!("`{}` has no `=value`", &text[error.key.clone()]),
        (DsnProblem::NoValue, Some(why), _) => format!(
            "a word in the connection string has no `=value` (it is not shown, as {why}); quote \
             a value that has spaces, as in password='...'"
        ),
        (DsnProblem::NoKey, ..) => "the connection string has a `=` without a key".to_string(),
        (DsnProblem::UnclosedQuote, ..) => {
            format!("the value of {key} has no closing quote")
        }
        (DsnProblem::UnknownKey, None, _) => format!(
            "unknown key `{}` in the connection string (expected {keys})",
            &text[error.key.clone()]
        ),
        (DsnProblem::UnknownKey, Some(why), _) => format!(
            "the connection string has an unknown key (it is not shown, as {why}; expected \
             {keys}); quote a value that has spaces, as in password='...'"
        ),
        (DsnProblem::BadPort, _, None) => {
            format!("port `{}` is not a port number", &text[error.value.clone()])
        }
        (DsnProblem::BadPort, _, Some(why)) => {
            format!("{key} is not a port number (the value is not shown, as {why})")
        }
        (DsnProblem::BadSslMode, _, None) => format!(
            "sslmode `{}` is not one of {}",
            &text[error.value.clone()],
            SslMode::NAMES.join(", ")
        ),
        (DsnProblem::BadSslMode, _, Some(why)) => format!(
            "`sslmode` is not one of {} (the value is not shown, as {why})",
            SslMode::NAMES.join(", ")
        ),
        (DsnProblem::NoRootCert, ..) => "sslmode verify-ca and verify-full check the server's \
            certificate against a CA: give its file as `sslrootcert=/path/to/ca.pem`"
            .to_string(),
        (DsnProblem::RelativeRootCert, ..) => "`sslrootcert` must be an absolute path: Lifeline \
            and the standbys (in `primary_conninfo`) read it from different directories"
            .to_string(),
        (DsnProblem::NoHost, ..) => "the connection string has no `host`".to_string(),
        (DsnProblem::NoUser, ..) => "the connection string has no `user`".to_string(),
    }
}

// === impl Servers ===

impl Servers {
    /// Records the server `connection` names at `at`, reporting it when an earlier node names
    /// it too.
    fn claim(
        &mut self,
        connection: &NodeConnection,
        node: Option<String>,
        at: usize,
        cx: &Context<'_>,
        report: &mut Report<'_>,
    ) {
        let (host, port, address) = match connection {
            NodeConnection::Postgres(dsn) => (&dsn.host, dsn.port, dsn.address()),
            NodeConnection::Redis(redis) => (&redis.host, redis.port, redis.address()),
        };
        let key = (host.to_ascii_lowercase(), port);
        let Some(first) = self.first.get(&key) else {
            let server = Server {
                node,
                cluster: cx.index,
                cluster_name: cx.name.map(str::to_string),
                at,
            };
            self.first.insert(key, server);
            return;
        };
        let node = first.node.as_deref().unwrap_or("(unnamed)");
        let cluster = match (&first.cluster_name, first.cluster == cx.index) {
            (_, true) => String::new(),
            (Some(name), false) => format!(" in cluster `{name}`"),
            (None, false) => " in an unnamed cluster".to_string(),
        };
        report.error(
            at,
            format!(
                "`{address}` is already the address of node `{node}`{cluster} (line {})",
                report.line_of(first.at)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message about `text`, `from_env` being the part of it from a variable.
    fn message(text: &str, from_env: Option<Range<usize>>) -> String {
        dsn_message(&PgDsn::parse(text).unwrap_err(), text, from_env.as_slice())
    }

    #[test]
    fn quotes_only_what_is_neither_from_the_environment_nor_a_password() {
        let text = "host=h user=u bogus=1";
        assert!(message(text, None).starts_with("unknown key `bogus` in the connection string"));
        let text = "host=h port=5x user=u password=secret";
        assert_eq!(message(text, None), "port `5x` is not a port number");
        assert_eq!(
            message(text, Some(12..14)),
            "`port` is not a port number (the value is not shown, as it takes text from the \
             environment)"
        );
        let text = "host=h user=u password='open";
        assert_eq!(
            message(text, None),
            "the value of `password` has no closing quote"
        );
    }

    #[test]
    fn never_quotes_a_piece_of_a_password() {
        // Unquoted with a space, as written in the file or taken from `${PG_PASSWORD}`.
        let text = "host=h user=u password=Pa55 w0rd=SECRETtail";
        for from_env in [None, Some(23..43)] {
            let shown = message(text, from_env);
            assert!(
                shown.starts_with("the connection string has an unknown key"),
                "{shown}"
            );
            assert!(
                !shown.contains("w0rd") && !shown.contains("SECRET"),
                "{shown}"
            );
        }
        // Quoted, with a quote inside.
        let text = "host=h user=u password='Pa55'w0rdSECRETtail'";
        for from_env in [None, Some(24..43)] {
            let shown = message(text, from_env);
            assert!(
                shown.starts_with("a word in the connection string"),
                "{shown}"
            );
            assert!(
                !shown.contains("w0rd") && !shown.contains("SECRET"),
                "{shown}"
            );
        }
    }

    #[test]
    fn never_quotes_a_key_that_came_from_the_environment() {
        // `${OPTS}` = "w0rd=x" before any password.
        let text = "host=h user=u w0rd=x";
        assert!(!message(text, Some(14..20)).contains("w0rd"));
        assert!(!message("host=h w0rd user=u", Some(7..11)).contains("w0rd"));
    }
}
