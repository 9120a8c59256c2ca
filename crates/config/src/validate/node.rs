//! A cluster's `nodes`: their names, connection strings and failover preferences.
//!
//! A connection string holds a password, often taken from `${VAR}`, so it needs more care than
//! other values: [`PgDsn::parse`]'s message is shown only when nothing it quotes could be a piece
//! of a password, and no other message here quotes the string at all.

use std::collections::HashMap;
use std::ops::Range;

use lifeline_model::{ClusterNode, NodeName, PgDsn};
use toml::Spanned;

use super::fields::{self, Names};
use crate::diagnostics::Report;
use crate::raw::{RawCluster, RawNode};

const NODE_SECTION: &str = "a node";
const MIN_NODES: usize = 2;
const MAX_PRIORITY: i64 = 1000;

/// The quoted words of [`PgDsn::parse`]'s messages that name keys, never a value.
const DSN_KEYS: [&str; 7] = [
    "host", "hostaddr", "port", "user", "password", "dbname", "=value",
];

/// Shown instead of a connection string problem that may quote part of a password.
const HIDDEN: &str = "the connection string is invalid after `password=` (the detail is hidden, \
                      as it may be part of the password); quote a password that has spaces, \
                      as in password='...'";

/// The cluster whose nodes are checked, and what the rest of the file says about nodes.
pub(super) struct Context<'a> {
    /// Its position in the file, and among the clusters.
    pub at: usize,
    pub index: usize,
    /// `None` when it has no valid name (already reported).
    pub name: Option<&'a str>,
    /// Every origin name in the file: nodes share the admin API with origins.
    pub origins: &'a Names,
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
    let dsn = fields::required(&raw.dsn, "dsn", NODE_SECTION, at, report)
        .and_then(|dsn| self::dsn(dsn, report));
    if let (Some(dsn), Some(value)) = (&dsn, &raw.dsn) {
        let node = raw.name.as_ref().map(|n| n.get_ref().clone());
        servers.claim(dsn, node, value.span().start, cx, report);
    }
    let priority = fields::integer(&raw.priority, "priority", 0, 0..=MAX_PRIORITY, report)
        .and_then(|priority| u32::try_from(priority).ok());
    Some(ClusterNode {
        name: name?,
        dsn: dsn?,
        priority: priority?,
        no_failover: is_no_failover(raw),
    })
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
/// that part cannot belong to a password.
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
        .map_err(|message| report.error(at, shown(message, text)))
        .ok()
}

/// `message` about the connection string `text`, or [`HIDDEN`] when something it quotes may come
/// from a password.
fn shown(message: String, text: &str) -> String {
    let secrets: Vec<&str> = password_ranges(text)
        .into_iter()
        .map(|range| &text[range])
        .filter(|secret| !secret.is_empty())
        .collect();
    let quoted = message.split('`').skip(1).step_by(2);
    let leaks = secrets.iter().any(|secret| message.contains(secret))
        || quoted
            .filter(|word| !word.is_empty() && !DSN_KEYS.contains(word))
            .any(|word| secrets.iter().any(|secret| secret.contains(word)));
    if leaks { HIDDEN.to_string() } else { message }
}

/// Where `text` may hold a password: the value of each `password` key, read as libpq reads it.
/// An unquoted value runs to the end of `text`: a password with spaces splits into words that
/// then look like keys.
fn password_ranges(text: &str) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut chars = text.char_indices().peekable();
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut chars);
        let Some(&(key_start, _)) = chars.peek() else {
            return ranges;
        };
        while chars
            .next_if(|(_, c)| *c != '=' && !c.is_whitespace())
            .is_some()
        {}
        let key_end = chars.peek().map_or(text.len(), |(i, _)| *i);
        let is_password = &text[key_start..key_end] == "password";
        skip_spaces(&mut chars);
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            return ranges;
        }
        skip_spaces(&mut chars);
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            let start = chars.peek().map_or(text.len(), |(i, _)| *i);
            let mut end = text.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            if is_password {
                ranges.push(start..end);
            }
        } else {
            let start = chars.peek().map_or(text.len(), |(i, _)| *i);
            if is_password {
                ranges.push(start..text.len());
                return ranges;
            }
            while chars.next_if(|(_, c)| !c.is_whitespace()).is_some() {}
        }
    }
}

// === impl Servers ===

impl Servers {
    /// Records the server of `dsn` at `at`, reporting it when an earlier node names it too.
    fn claim(
        &mut self,
        dsn: &PgDsn,
        node: Option<String>,
        at: usize,
        cx: &Context<'_>,
        report: &mut Report<'_>,
    ) {
        let key = (dsn.host.to_ascii_lowercase(), dsn.port);
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
                "`{}` is already the address of node `{node}`{cluster} (line {})",
                dsn.address(),
                report.line_of(first.at)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(text: &str) -> Vec<&str> {
        password_ranges(text)
            .into_iter()
            .map(|range| &text[range])
            .collect()
    }

    #[test]
    fn finds_password_values_as_libpq_reads_them() {
        assert!(secrets("host=h user=u").is_empty());
        assert_eq!(secrets("host=h password = s3 dbname=d"), ["s3 dbname=d"]);
        assert_eq!(
            secrets("password='a \\' b' host=h password='c"),
            ["a \\' b", "c"]
        );
        assert!(secrets("user=password host=h").is_empty());
    }

    #[test]
    fn hides_messages_that_quote_a_piece_of_the_password() {
        let text = "host=h user=u password=ab cd dbname=x";
        let message = PgDsn::parse(text).unwrap_err();
        assert_eq!(message, "`cd` has no `=value`");
        assert_eq!(shown(message, text), HIDDEN);

        let text = "host=h port=5x user=u password=secret";
        let message = PgDsn::parse(text).unwrap_err();
        assert_eq!(shown(message.clone(), text), message);
        let text = "host=h user=u password='open";
        let message = PgDsn::parse(text).unwrap_err();
        assert_eq!(shown(message.clone(), text), message);
    }
}
