//! `[[signal]]` and `[[scorecard]]`: every signal's one source must exist, every scorecard's
//! signals must be defined, its levels ascending.

use std::time::Duration;

use lifeline_model::{
    Cluster, ClusterName, Lag, LoadBalancerName, Monitor, NodeName, OriginName, Pool, PoolName,
    SEED_LEVELS, Scorecard, ScorecardName, Severity, Signal, SignalName, SignalSource,
};
use toml::Spanned;

use super::cluster::parse_size;
use super::fields::{self, Names};
use crate::diagnostics::Report;
use crate::raw::{Field, RawScorecard, RawSignal, SizeText};

const SIGNAL: &str = "[[signal]]";
const SCORECARD: &str = "[[scorecard]]";
const MAX_WEIGHT: i64 = 1000;
/// `for` when a scorecard's sources have no check interval of their own (origins with no
/// monitor): two of the clusters' default.
const DEFAULT_HOLD_FOR: Duration = Duration::from_secs(2);
const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);
const DEFAULT_HOLD: Duration = Duration::from_secs(60);

/// What the signals may watch, as far as it checked out (`None`: it had errors of its own,
/// reported already, so references to it are not checked again).
pub(super) struct Sources<'a> {
    pub monitors: Option<&'a [Monitor]>,
    pub pools: Option<&'a [Pool]>,
    pub load_balancers: Option<Vec<LoadBalancerName>>,
    pub clusters: Option<&'a [Cluster]>,
}

/// Every scorecard, each with its signals; `None` after recording every problem.
pub(super) fn scorecards(
    signals: &[Spanned<RawSignal>],
    scorecards: &[Spanned<RawScorecard>],
    sources: &Sources<'_>,
    report: &mut Report<'_>,
) -> Option<Vec<Scorecard>> {
    let mut names = Names::new("signal");
    let checked: Vec<Option<Signal>> = signals
        .iter()
        .map(|raw| signal(raw, sources, &mut names, report))
        .collect();
    let mut card_names = Names::new("scorecard");
    let cards: Vec<Option<Scorecard>> = scorecards
        .iter()
        .map(|raw| scorecard(raw, &checked, &names, sources, &mut card_names, report))
        .collect();
    let signals_ok = checked.iter().all(Option::is_some);
    let cards: Option<Vec<Scorecard>> = cards.into_iter().collect();
    signals_ok.then_some(cards).flatten()
}

fn signal(
    spanned: &Spanned<RawSignal>,
    sources: &Sources<'_>,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Signal> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SIGNAL, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let weight = fields::required(&raw.weight, "weight", SIGNAL, at, report)
        .and_then(|_| fields::integer(&raw.weight, "weight", 0, 0..=MAX_WEIGHT, report));
    let source = source(raw, at, sources, report);
    Some(Signal {
        name: SignalName::new(name?.get_ref().as_str()),
        weight: u32::try_from(weight?).ok()?,
        source: source?,
    })
}

/// The one source a signal watches, and when it is on.
fn source(
    raw: &RawSignal,
    at: usize,
    sources: &Sources<'_>,
    report: &mut Report<'_>,
) -> Option<SignalSource> {
    let given: Vec<&str> = [
        ("pool", raw.pool.is_some()),
        ("origin", raw.origin.is_some()),
        ("load_balancer", raw.load_balancer.is_some()),
        ("cluster", raw.cluster.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, present)| present.then_some(key))
    .collect();
    if given.len() != 1 {
        let found = if given.is_empty() {
            "none".to_string()
        } else {
            given.join(", ")
        };
        report.error(
            at,
            format!(
                "a [[signal]] watches exactly one of `pool`, `origin`, `load_balancer` or \
                 `cluster` (found {found})"
            ),
        );
        return None;
    }
    if raw.node.is_some() && raw.cluster.is_none() {
        report.error(
            fields::position(&raw.node).unwrap_or(at),
            "`node` needs the `cluster` it belongs to",
        );
        return None;
    }
    let takes_state = raw.pool.is_some()
        || raw.load_balancer.is_some()
        || (raw.cluster.is_some() && raw.node.is_none() && raw.lag_above.is_none());
    if let Some(state) = raw.state.as_ref().filter(|_| !takes_state) {
        report.error(
            state.span().start,
            "`state` applies to a pool, a load balancer or a whole cluster; an origin or a \
             node is on when it is down, and `lag_above` says itself when it is on",
        );
        return None;
    }
    if let Some(lag) = raw.lag_above.as_ref()
        && (raw.cluster.is_none() || raw.node.is_some())
    {
        report.error(
            lag.span().start,
            "`lag_above` applies to a `cluster` (any of its standbys), without `node`",
        );
        return None;
    }
    let when = severity(&raw.state, report);
    if let Some(pool) = &raw.pool {
        let known = sources
            .pools
            .is_none_or(|pools| pools.iter().any(|p| p.name.as_str() == pool.get_ref()));
        reference(known, pool, "pool", report)?;
        return Some(SignalSource::Pool {
            pool: PoolName::new(pool.get_ref().as_str()),
            when: when?,
        });
    }
    if let Some(origin) = &raw.origin {
        let known = sources.pools.is_none_or(|pools| {
            pools.iter().any(|p| {
                p.origins
                    .iter()
                    .any(|o| o.name.as_str() == origin.get_ref())
            })
        });
        reference(known, origin, "origin", report)?;
        return Some(SignalSource::Origin {
            origin: OriginName::new(origin.get_ref().as_str()),
        });
    }
    if let Some(lb) = &raw.load_balancer {
        let known = sources
            .load_balancers
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n.as_str() == lb.get_ref()));
        reference(known, lb, "load balancer", report)?;
        return Some(SignalSource::LoadBalancer {
            load_balancer: LoadBalancerName::new(lb.get_ref().as_str()),
            when: when?,
        });
    }
    let cluster = raw.cluster.as_ref()?;
    let found = sources.clusters.map(|clusters| {
        clusters
            .iter()
            .find(|c| c.name.as_str() == cluster.get_ref())
    });
    reference(!matches!(found, Some(None)), cluster, "cluster", report)?;
    let name = ClusterName::new(cluster.get_ref().as_str());
    if let Some(node) = &raw.node {
        let known = found
            .flatten()
            .is_none_or(|c| c.nodes.iter().any(|n| n.name.as_str() == node.get_ref()));
        if !known {
            report.error(
                node.span().start,
                format!(
                    "unknown node `{}` of cluster `{}`",
                    node.get_ref(),
                    cluster.get_ref()
                ),
            );
            return None;
        }
        return Some(SignalSource::Node {
            cluster: name,
            node: NodeName::new(node.get_ref().as_str()),
        });
    }
    if let Some(lag) = &raw.lag_above {
        return Some(SignalSource::Lag {
            cluster: name,
            above: lag_limit(lag, report)?,
        });
    }
    Some(SignalSource::Cluster {
        cluster: name,
        when: when?,
    })
}

fn reference(
    known: bool,
    name: &Spanned<String>,
    kind: &str,
    report: &mut Report<'_>,
) -> Option<()> {
    if known {
        return Some(());
    }
    report.error(
        name.span().start,
        format!("unknown {kind} `{}`", name.get_ref()),
    );
    None
}

/// `state`: `down` (the default) or `degraded`.
fn severity(field: &Field<String>, report: &mut Report<'_>) -> Option<Severity> {
    let Some(state) = field else {
        return Some(Severity::Down);
    };
    match state.get_ref().as_str() {
        "down" => Some(Severity::Down),
        "degraded" => Some(Severity::Degraded),
        other => {
            report.error(
                state.span().start,
                format!("`state` must be \"down\" or \"degraded\", not `{other}`"),
            );
            None
        }
    }
}

/// `lag_above`: bytes (`16777216`, `"16MB"`) or a time (`"30s"`).
fn lag_limit(field: &Spanned<SizeText>, report: &mut Report<'_>) -> Option<Lag> {
    let parsed = match field.get_ref() {
        SizeText::Bytes(bytes) => u64::try_from(*bytes).ok().map(Lag::Bytes),
        SizeText::Text(text) => parse_size(text)
            .map(Lag::Bytes)
            .or_else(|| humantime::parse_duration(text.trim()).ok().map(Lag::Time)),
    };
    if parsed.is_none() {
        report.error(
            field.span().start,
            "`lag_above` must be a size like \"16MB\" (bytes, 1024-based) or a time like \"30s\"",
        );
    }
    parsed
}

fn scorecard(
    spanned: &Spanned<RawScorecard>,
    signals: &[Option<Signal>],
    signal_names: &Names,
    sources: &Sources<'_>,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Scorecard> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SCORECARD, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let members = members(raw, at, signals, signal_names, report);
    let levels = levels(&raw.levels, report);
    let default_for = members
        .as_ref()
        .and_then(|m| m.iter().filter_map(|s| check_interval(s, sources)).max())
        .map_or(DEFAULT_HOLD_FOR, |interval| interval * 2);
    let hold_for = fields::duration_or_zero(&raw.hold_for, "for", default_for, report);
    let cool_down =
        fields::duration_or_zero(&raw.cool_down, "cool_down", DEFAULT_COOL_DOWN, report);
    let hold = fields::duration_or_zero(&raw.hold, "hold", DEFAULT_HOLD, report);
    Some(Scorecard {
        name: ScorecardName::new(name?.get_ref().as_str()),
        signals: members?,
        levels: levels?,
        hold_for: hold_for?,
        cool_down: cool_down?,
        hold: hold?,
    })
}

/// `signals`: at least one, each defined once and named once.
fn members(
    raw: &RawScorecard,
    at: usize,
    signals: &[Option<Signal>],
    signal_names: &Names,
    report: &mut Report<'_>,
) -> Option<Vec<Signal>> {
    let list = fields::required(&raw.signals, "signals", SCORECARD, at, report)?;
    if list.get_ref().is_empty() {
        report.error(
            list.span().start,
            "`signals` must name at least one [[signal]]",
        );
        return None;
    }
    let mut members = Vec::new();
    let mut ok = true;
    for (index, name) in list.get_ref().iter().enumerate() {
        let text = name.get_ref();
        if list.get_ref()[..index].iter().any(|n| n.get_ref() == text) {
            report.error(
                name.span().start,
                format!("signal `{text}` is listed twice"),
            );
            ok = false;
        } else if !signal_names.contains(text) {
            report.error(name.span().start, format!("unknown signal `{text}`"));
            ok = false;
        } else if let Some(signal) = signals.iter().flatten().find(|s| s.name.as_str() == text) {
            members.push(signal.clone());
        }
    }
    ok.then_some(members)
}

/// `levels`: three ascending scores of at least 1 (seed 003's by default).
fn levels(field: &Field<Vec<Spanned<i64>>>, report: &mut Report<'_>) -> Option<[u32; 3]> {
    let Some(levels) = field else {
        return Some(SEED_LEVELS);
    };
    let values: Vec<i64> = levels.get_ref().iter().map(|l| *l.get_ref()).collect();
    let ascending = values.windows(2).all(|pair| pair[0] < pair[1]);
    let converted: Option<Vec<u32>> = values
        .iter()
        .map(|&v| u32::try_from(v).ok().filter(|&v| v >= 1))
        .collect();
    match converted.and_then(|v| <[u32; 3]>::try_from(v).ok()) {
        Some(levels) if ascending => Some(levels),
        _ => {
            report.error(
                levels.span().start,
                "`levels` must be three ascending scores of at least 1: the lowest score of \
                 levels 1, 2 and 3, like [4, 8, 11]",
            );
            None
        }
    }
}

/// How often a signal's source is checked, when Lifeline checks it itself.
fn check_interval(signal: &Signal, sources: &Sources<'_>) -> Option<Duration> {
    let pool_interval = |pool: &Pool| {
        let monitor = pool.monitor.as_ref()?;
        let monitors = sources.monitors?;
        monitors
            .iter()
            .find(|m| m.name == *monitor)
            .map(|m| m.interval)
    };
    let cluster_interval = |name: &ClusterName| {
        let clusters = sources.clusters?;
        clusters
            .iter()
            .find(|c| c.name == *name)
            .map(|c| c.check_interval)
    };
    match &signal.source {
        SignalSource::Pool { pool, .. } => {
            pool_interval(sources.pools?.iter().find(|p| p.name == *pool)?)
        }
        SignalSource::Origin { origin } => pool_interval(
            sources
                .pools?
                .iter()
                .find(|p| p.origins.iter().any(|o| o.name == *origin))?,
        ),
        SignalSource::LoadBalancer { .. } => None,
        SignalSource::Cluster { cluster, .. }
        | SignalSource::Node { cluster, .. }
        | SignalSource::Lag { cluster, .. } => cluster_interval(cluster),
    }
}
