//! `[[load_balancer]]`: the pools it routes to, its rules, session affinity and timing.
//!
//! Where it listens and which hosts it answers are in `listen.rs`, which also checks load
//! balancers against each other; the steering policy and its geo keys are in `steering.rs`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use humantime::format_duration;
use lifeline_model::{LoadBalancer, LoadBalancerName, PoolName, Route, Rule, SessionAffinity};
use toml::Spanned;

use super::endpoints::Endpoint;
use super::fields::{self, Names};
use super::listen::{self, Claims};
use super::steering;
use crate::diagnostics::Report;
use crate::raw::{Field, RawLoadBalancer, RawRule};

pub(super) const SECTION: &str = "[[load_balancer]]";
const RULE_SECTION: &str = "[[load_balancer.rule]]";
const DEFAULT_TRY_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: i64 = 2;
const MAX_RETRIES: i64 = 10;
const DEFAULT_RTO_ALERT: Duration = Duration::from_secs(60);

/// What every load balancer needs to know about the rest of the file.
pub(super) struct Context<'a> {
    /// Every pool name in the file, valid or not.
    pub pools: &'a Names,
    /// The directory of the config file, for relative TLS paths.
    pub directory: &'a Path,
    /// `[admin] listen`, when it is valid.
    pub admin: Option<SocketAddr>,
}

/// The timing keys of a load balancer.
struct Timing {
    try_timeout: Duration,
    retries: u32,
    hedge_after: Option<Duration>,
    slow_start: Duration,
    rto_alert: Duration,
}

/// Checks every load balancer, then the addresses they share. Every valid listen address comes
/// back too, even from an invalid load balancer, for the checks against clusters.
pub(super) fn load_balancers(
    raw: &[Spanned<RawLoadBalancer>],
    cx: &Context<'_>,
    report: &mut Report<'_>,
) -> (Option<Vec<LoadBalancer>>, Vec<Endpoint>) {
    let mut names = Names::new("load balancer");
    let mut claims = Vec::new();
    let checked: Vec<Option<LoadBalancer>> = raw
        .iter()
        .map(|lb| load_balancer(lb, cx, &mut names, &mut claims, report))
        .collect();
    listen::shared_addresses(&claims, cx.admin, report);
    (checked.into_iter().collect(), listen::endpoints(&claims))
}

/// Checks one load balancer and adds what it claims (addresses, hostnames) to `claims`.
fn load_balancer(
    spanned: &Spanned<RawLoadBalancer>,
    cx: &Context<'_>,
    names: &mut Names,
    claims: &mut Vec<Claims>,
    report: &mut Report<'_>,
) -> Option<LoadBalancer> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SECTION, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let (listeners, claimed) = listen::listeners(raw, at, cx.directory, report);
    let hostnames = listen::hostnames(raw, report);
    let routes = route(
        &raw.default_pools,
        &raw.fallback_pool,
        (SECTION, at),
        cx.pools,
        report,
    );
    let rules = rules(&raw.rules, cx.pools, report);
    let steering = steering::steering(raw, cx.pools, report);
    let session_affinity = session_affinity(raw, report);
    let timing = timing(raw, report);

    claims.push(Claims {
        name: raw.name.as_ref().map(|n| n.get_ref().clone()),
        listeners: claimed,
        hostnames: hostnames.claimed,
        any_host: raw
            .hostnames
            .as_ref()
            .is_none_or(|h| h.get_ref().is_empty()),
    });
    let (steering, timing) = (steering?, timing?);
    Some(LoadBalancer {
        name: LoadBalancerName::new(name?.get_ref().as_str()),
        listeners: listeners?,
        hostnames: hostnames.valid?,
        routes: routes?,
        rules: rules?,
        steering_policy: steering.policy,
        region_pools: steering.region_pools,
        regions: steering.regions,
        region_header: steering.region_header,
        session_affinity: session_affinity?,
        try_timeout: timing.try_timeout,
        retries: timing.retries,
        hedge_after: timing.hedge_after,
        slow_start: timing.slow_start,
        rto_alert: timing.rto_alert,
    })
}

/// `default_pools` (required) and `fallback_pool` of a load balancer or a rule; `section` names
/// the table and where it starts.
fn route(
    default_pools: &Field<Vec<Spanned<String>>>,
    fallback_pool: &Field<String>,
    (section, at): (&str, usize),
    pools: &Names,
    report: &mut Report<'_>,
) -> Option<Route> {
    let defaults = fields::required(default_pools, "default_pools", section, at, report)
        .and_then(|list| pool_list(list, "default_pools", pools, report));
    let fallback = match fallback_pool {
        None => Some(None),
        Some(pool) => pool_name(pool, pools, report).map(Some),
    };
    Some(Route {
        default_pools: defaults?,
        fallback_pool: fallback?,
    })
}

/// A non-empty list of pool names, each naming a `[[pool]]`, none twice. `key` names the list in
/// messages.
pub(super) fn pool_list(
    list: &Spanned<Vec<Spanned<String>>>,
    key: &str,
    pools: &Names,
    report: &mut Report<'_>,
) -> Option<Vec<PoolName>> {
    if list.get_ref().is_empty() {
        report.error(
            list.span().start,
            format!("`{key}` is empty; name at least one [[pool]]"),
        );
        return None;
    }
    let mut seen = HashSet::new();
    let checked: Vec<Option<PoolName>> = list
        .get_ref()
        .iter()
        .map(|pool| {
            let name = pool_name(pool, pools, report)?;
            if !seen.insert(pool.get_ref().as_str()) {
                report.error(
                    pool.span().start,
                    format!("pool `{}` appears twice in `{key}`", pool.get_ref()),
                );
                return None;
            }
            Some(name)
        })
        .collect();
    checked.into_iter().collect()
}

/// A reference to a `[[pool]]`.
fn pool_name(pool: &Spanned<String>, pools: &Names, report: &mut Report<'_>) -> Option<PoolName> {
    if !pools.contains(pool.get_ref()) {
        report.error(
            pool.span().start,
            format!("no [[pool]] is named `{}`", pool.get_ref()),
        );
        return None;
    }
    Some(PoolName::new(pool.get_ref().as_str()))
}

/// `[[load_balancer.rule]]`s, in order. A rule that an earlier one always matches first is an
/// error: it could never take a request.
fn rules(raw: &[Spanned<RawRule>], pools: &Names, report: &mut Report<'_>) -> Option<Vec<Rule>> {
    let mut earlier: Vec<&Spanned<String>> = Vec::new();
    let checked: Vec<Option<Rule>> = raw
        .iter()
        .map(|spanned| {
            let at = spanned.span().start;
            let rule = spanned.get_ref();
            let prefix =
                fields::required(&rule.path_prefix, "path_prefix", RULE_SECTION, at, report)
                    .and_then(|prefix| path_prefix(prefix, &earlier, report));
            if let Some(prefix) = &rule.path_prefix {
                earlier.push(prefix);
            }
            let route = route(
                &rule.default_pools,
                &rule.fallback_pool,
                (RULE_SECTION, at),
                pools,
                report,
            );
            Some(Rule {
                path_prefix: prefix?,
                route: route?,
            })
        })
        .collect();
    checked.into_iter().collect()
}

fn path_prefix(
    prefix: &Spanned<String>,
    earlier: &[&Spanned<String>],
    report: &mut Report<'_>,
) -> Option<String> {
    let at = prefix.span().start;
    let text = prefix.get_ref();
    if !text.starts_with('/') {
        report.error(at, "`path_prefix` must start with `/`");
        return None;
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        report.error(
            at,
            "`path_prefix` must not contain spaces or control characters",
        );
        return None;
    }
    if let Some(first) = earlier
        .iter()
        .find(|e| text.starts_with(e.get_ref().as_str()))
    {
        report.error(
            at,
            format!(
                "this rule never matches: the rule for `{}` on line {} comes first and takes every path it would",
                first.get_ref(),
                report.line_of(first.span().start)
            ),
        );
        return None;
    }
    Some(text.clone())
}

fn session_affinity(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Option<SessionAffinity> {
    let Some(affinity) = &raw.session_affinity else {
        return Some(SessionAffinity::default());
    };
    match affinity.get_ref().as_str() {
        "none" => Some(SessionAffinity::None),
        "cookie" => Some(SessionAffinity::Cookie),
        "ip_cookie" => Some(SessionAffinity::IpCookie),
        other => {
            report.error(
                affinity.span().start,
                format!("unknown session_affinity `{other}` (expected none, cookie or ip_cookie)"),
            );
            None
        }
    }
}

/// `try_timeout`, `retries`, `hedge_after` (shorter than `try_timeout`), `slow_start` and
/// `rto_alert`.
fn timing(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Option<Timing> {
    let try_timeout =
        fields::duration(&raw.try_timeout, "try_timeout", DEFAULT_TRY_TIMEOUT, report);
    let retries = fields::integer(
        &raw.retries,
        "retries",
        DEFAULT_RETRIES,
        0..=MAX_RETRIES,
        report,
    )
    .and_then(|retries| u32::try_from(retries).ok());
    let hedge_after = match &raw.hedge_after {
        None => Some(None),
        Some(_) => {
            fields::duration(&raw.hedge_after, "hedge_after", Duration::ZERO, report).map(Some)
        }
    };
    let slow_start =
        fields::duration_or_zero(&raw.slow_start, "slow_start", Duration::ZERO, report);
    let rto_alert = fields::duration(&raw.rto_alert, "rto_alert", DEFAULT_RTO_ALERT, report);
    let (try_timeout, hedge_after) = (try_timeout?, hedge_after?);
    if let (Some(hedge), Some(at)) = (hedge_after, fields::position(&raw.hedge_after))
        && hedge >= try_timeout
    {
        report.error(
            at,
            format!(
                "`hedge_after` ({}) must be shorter than `try_timeout` ({})",
                format_duration(hedge),
                format_duration(try_timeout)
            ),
        );
        return None;
    }
    Some(Timing {
        try_timeout,
        retries: retries?,
        hedge_after,
        slow_start: slow_start?,
        rto_alert: rto_alert?,
    })
}
