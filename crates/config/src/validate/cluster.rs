//! `[[cluster]]`: a replication group of database nodes: its kind, endpoints, timing, failover
//! rules and the command that makes an old primary rejoin.
//!
//! Its nodes are checked in `node.rs`; its endpoints against every other address Lifeline listens
//! on in `endpoints.rs`, once every cluster has been read.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use lifeline_model::{Cluster, ClusterKind, ClusterName};
use toml::Spanned;

use super::endpoints::{self, Endpoint, Owner};
use super::fields::{self, Names};
use super::node::{self, NodeKind, Servers};
use super::redis;
use crate::diagnostics::Report;
use crate::raw::{Field, RawCluster, SizeText};

const SECTION: &str = "[[cluster]]";
const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_FAILURE_THRESHOLD: i64 = 3;
const MAX_FAILURE_THRESHOLD: i64 = 100;
/// HAProxy's default `rise`, as for monitors.
const DEFAULT_RISE: i64 = 2;
/// 1MB, PostgreSQL's and Patroni's units: 1024-based.
const DEFAULT_MAXIMUM_LAG: u64 = 1024 * 1024;
const DEFAULT_PRIMARY_SILENCE: Duration = Duration::from_secs(3);
const DEFAULT_WRITER_WAIT: Duration = Duration::from_secs(10);
/// Size units, as PostgreSQL writes them (`KB` too), 1024-based.
const SIZE_UNITS: [(&str, u64); 5] = [
    ("B", 1),
    ("kB", 1 << 10),
    ("KB", 1 << 10),
    ("MB", 1 << 20),
    ("GB", 1 << 30),
];
/// What `rejoin_command` may contain in braces.
const PLACEHOLDERS: [&str; 5] = ["node", "host", "port", "primary_host", "primary_port"];

/// What clusters need to know about the rest of the file.
pub(super) struct Context<'a> {
    /// Every origin name in the file, valid or not.
    pub origins: &'a Names,
    /// The config file's directory, for relative paths.
    pub directory: &'a Path,
    /// `[admin] listen`, when it is valid.
    pub admin: Option<SocketAddr>,
    /// Every valid load balancer listen address.
    pub load_balancers: Vec<Endpoint>,
}

/// The keys of a cluster other than its name, nodes and endpoints.
struct Settings {
    check_interval: Duration,
    failure_threshold: u32,
    rise: u32,
    maximum_lag_on_failover: u64,
    primary_silence: Duration,
    failover: Failover,
    writer_wait: Duration,
    rejoin_command: Option<String>,
}

/// The failover keys of a cluster.
struct Failover {
    synchronous_mode: bool,
    synchronous_mode_strict: bool,
    auto_failover: bool,
}

/// What checking the clusters collects along the way.
struct Seen<'a> {
    names: Names,
    servers: Servers,
    endpoints: Vec<Endpoint>,
    origins: &'a Names,
    directory: &'a Path,
}

/// Checks every cluster, then every address they listen on against all the others.
pub(super) fn clusters(
    raw: &[Spanned<RawCluster>],
    cx: Context<'_>,
    report: &mut Report<'_>,
) -> Option<Vec<Cluster>> {
    let mut seen = Seen {
        names: Names::new("cluster"),
        servers: Servers::default(),
        endpoints: cx.load_balancers,
        origins: cx.origins,
        directory: cx.directory,
    };
    let checked: Vec<Option<Cluster>> = raw
        .iter()
        .enumerate()
        .map(|(index, cluster)| self::cluster(cluster, index, &mut seen, report))
        .collect();
    endpoints::check(seen.endpoints, cx.admin, report);
    checked.into_iter().collect()
}

/// Checks the `index`th cluster, adding its name, servers and endpoints to `seen`.
fn cluster(
    spanned: &Spanned<RawCluster>,
    index: usize,
    seen: &mut Seen<'_>,
    report: &mut Report<'_>,
) -> Option<Cluster> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SECTION, at, report);
    if let Some(name) = name {
        seen.names.claim(name, report);
    }
    let name = name.map(|name| name.get_ref().as_str());
    let kind = kind(raw, report);
    let (redis, kind_keys) = match kind {
        Some(ClusterKind::Redis) => (
            redis::access(raw, seen.directory, report),
            redis::no_postgres_keys(raw, report),
        ),
        _ => (None, redis::no_redis_keys(raw, report)),
    };
    let nodes = node::Context {
        at,
        index,
        name,
        origins: seen.origins,
        kind: match kind {
            Some(ClusterKind::Redis) => NodeKind::Redis(redis.as_ref()),
            _ => NodeKind::Postgres,
        },
    };
    let nodes = node::nodes(raw, SECTION, &nodes, &mut seen.servers, report);
    let owner = |key| Owner::Cluster {
        name: name.map(str::to_string),
        index,
        key,
    };
    let writer = listen(&raw.writer_listen, owner("writer_listen"), report);
    let reader = listen(&raw.reader_listen, owner("reader_listen"), report);
    let sentinel = listen(&raw.sentinel_listen, owner("sentinel_listen"), report);
    let address = |listen: &Option<Option<Endpoint>>| {
        listen
            .as_ref()
            .map(|endpoint| endpoint.as_ref().map(|e| e.address))
    };
    let (writer_listen, reader_listen) = (address(&writer), address(&reader));
    let sentinel_listen = address(&sentinel);
    seen.endpoints
        .extend([writer, reader, sentinel].into_iter().flatten().flatten());
    let settings = settings(raw, report);
    let (kind, settings) = (kind?, settings?);
    if kind == ClusterKind::Redis && redis.is_none() || !kind_keys {
        return None;
    }
    Some(Cluster {
        name: ClusterName::new(name?),
        kind,
        nodes: nodes?,
        writer_listen: writer_listen?,
        reader_listen: reader_listen?,
        sentinel_listen: sentinel_listen?,
        check_interval: settings.check_interval,
        failure_threshold: settings.failure_threshold,
        rise: settings.rise,
        maximum_lag_on_failover: settings.maximum_lag_on_failover,
        primary_silence: settings.primary_silence,
        synchronous_mode: settings.failover.synchronous_mode,
        synchronous_mode_strict: settings.failover.synchronous_mode_strict,
        auto_failover: settings.failover.auto_failover,
        writer_wait: settings.writer_wait,
        rejoin_command: settings.rejoin_command,
    })
}

/// Timing, lag, failover and rejoin keys.
fn settings(raw: &RawCluster, report: &mut Report<'_>) -> Option<Settings> {
    let check_interval = fields::duration(
        &raw.check_interval,
        "check_interval",
        DEFAULT_CHECK_INTERVAL,
        report,
    );
    let failure_threshold = fields::integer(
        &raw.failure_threshold,
        "failure_threshold",
        DEFAULT_FAILURE_THRESHOLD,
        1..=MAX_FAILURE_THRESHOLD,
        report,
    )
    .and_then(|threshold| u32::try_from(threshold).ok());
    let rise = fields::integer(
        &raw.rise,
        "rise",
        DEFAULT_RISE,
        1..=MAX_FAILURE_THRESHOLD,
        report,
    )
    .and_then(|rise| u32::try_from(rise).ok());
    let maximum_lag = size(
        &raw.maximum_lag_on_failover,
        "maximum_lag_on_failover",
        DEFAULT_MAXIMUM_LAG,
        report,
    );
    let primary_silence = fields::duration(
        &raw.primary_silence,
        "primary_silence",
        DEFAULT_PRIMARY_SILENCE,
        report,
    );
    let failover = failover(raw, report);
    let writer_wait =
        fields::duration_or_zero(&raw.writer_wait, "writer_wait", DEFAULT_WRITER_WAIT, report);
    let rejoin_command = rejoin_command(&raw.rejoin_command, report);
    Some(Settings {
        check_interval: check_interval?,
        failure_threshold: failure_threshold?,
        rise: rise?,
        maximum_lag_on_failover: maximum_lag?,
        primary_silence: primary_silence?,
        failover: failover?,
        writer_wait: writer_wait?,
        rejoin_command: rejoin_command?,
    })
}

/// `kind`: which database the nodes run, `postgres` when absent.
fn kind(raw: &RawCluster, report: &mut Report<'_>) -> Option<ClusterKind> {
    let Some(word) = &raw.kind else {
        return Some(ClusterKind::Postgres);
    };
    let kind = ClusterKind::parse(word.get_ref());
    if kind.is_none() {
        let known: Vec<&str> = ClusterKind::ALL.iter().map(|kind| kind.as_str()).collect();
        report.error(
            word.span().start,
            format!(
                "unknown cluster kind `{}` (expected {})",
                word.get_ref(),
                known.join(" or ")
            ),
        );
    }
    kind
}

/// An optional endpoint address; `Some(None)` when absent.
fn listen(
    field: &Field<String>,
    owner: Owner,
    report: &mut Report<'_>,
) -> Option<Option<Endpoint>> {
    let Some(text) = field else {
        return Some(None);
    };
    let at = text.span().start;
    let Ok(address) = text.get_ref().parse() else {
        report.error(
            at,
            format!(
                "`{}`: `{}` is not an IP address and port like 127.0.0.1:6432",
                owner.key(),
                text.get_ref()
            ),
        );
        return None;
    };
    Some(Some(Endpoint { address, owner, at }))
}

/// `synchronous_mode`, `synchronous_mode_strict` (only with `synchronous_mode`) and
/// `auto_failover`, which needs a node that may be promoted.
fn failover(raw: &RawCluster, report: &mut Report<'_>) -> Option<Failover> {
    let flag =
        |field: &Field<bool>, default: bool| field.as_ref().map_or(default, |f| *f.get_ref());
    let synchronous_mode = flag(&raw.synchronous_mode, false);
    let synchronous_mode_strict = flag(&raw.synchronous_mode_strict, false);
    let auto_failover = flag(&raw.auto_failover, true);
    let mut valid = true;
    if let Some(strict) = &raw.synchronous_mode_strict
        && *strict.get_ref()
        && !synchronous_mode
    {
        report.error(
            strict.span().start,
            "`synchronous_mode_strict` needs `synchronous_mode = true`",
        );
        valid = false;
    }
    if let Some(nodes) = &raw.nodes
        && auto_failover
        && !nodes.get_ref().is_empty()
        && nodes
            .get_ref()
            .iter()
            .all(|n| node::is_no_failover(n.get_ref()))
    {
        report.error(
            nodes.span().start,
            "every node has `no_failover = true`, so automatic failover could never promote one; \
             let a node fail over or set `auto_failover = false`",
        );
        valid = false;
    }
    valid.then_some(Failover {
        synchronous_mode,
        synchronous_mode_strict,
        auto_failover,
    })
}

/// A size in bytes: an integer, or a string with a unit (`"512kB"`, `"1MB"`), 1024-based.
fn size(field: &Field<SizeText>, key: &str, default: u64, report: &mut Report<'_>) -> Option<u64> {
    let Some(size) = field else {
        return Some(default);
    };
    let at = size.span().start;
    let parsed = match size.get_ref() {
        SizeText::Bytes(bytes) => {
            u64::try_from(*bytes).map_err(|_| format!("`{key}` must be at least 0, not {bytes}"))
        }
        SizeText::Text(text) => parse_size(text).ok_or_else(|| {
            format!(
                "`{key}`: `{text}` is not a size like \"512kB\", \"1MB\" or 1048576 \
                 (bytes; units B, kB, MB, GB, 1024-based)"
            )
        }),
    };
    parsed.map_err(|message| report.error(at, message)).ok()
}

/// `"<digits><unit>"`, with optional spaces between them, as PostgreSQL reads sizes.
pub(super) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = unit.trim_start();
    let (_, factor) = SIZE_UNITS.iter().find(|(name, _)| *name == unit)?;
    number.checked_mul(*factor)
}

/// `rejoin_command` (optional): not empty, and only known `{placeholders}`.
fn rejoin_command(field: &Field<String>, report: &mut Report<'_>) -> Option<Option<String>> {
    let Some(command) = field else {
        return Some(None);
    };
    let (at, text) = (command.span().start, command.get_ref());
    if text.trim().is_empty() {
        report.error(at, "`rejoin_command` must not be empty");
        return None;
    }
    let mut valid = true;
    let mut rest = text.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            report.error(at, "`rejoin_command`: `{` without a closing `}`");
            return None;
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            report.error(
                at,
                format!(
                    "unknown placeholder `{{{name}}}` in `rejoin_command` (expected {{node}}, \
                     {{host}}, {{port}}, {{primary_host}} or {{primary_port}})"
                ),
            );
            valid = false;
        }
        rest = &after[close + 1..];
    }
    valid.then(|| Some(text.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(parse_size("1MB"), Some(1_048_576));
        assert_eq!(parse_size("512kB"), Some(524_288));
        assert_eq!(parse_size("512KB"), Some(524_288));
        assert_eq!(parse_size(" 2 GB "), Some(2 << 30));
        assert_eq!(parse_size("0B"), Some(0));
        for bad in [
            "",
            "MB",
            "1",
            "1mb",
            "1 MiB",
            "1.5MB",
            "-1MB",
            "99999999999999GB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
