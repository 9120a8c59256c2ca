//! `[[pool]]`: its origins, the monitor it names, how many origins it needs, and how the load
//! balancers talk to them.

use lifeline_model::{HostPort, MonitorName, Origin, OriginName, OriginProtocol, Pool, PoolName};
use toml::Spanned;

use super::fields::{self, Names};
use crate::diagnostics::Report;
use crate::raw::{RawOrigin, RawPool};

const SECTION: &str = "[[pool]]";
const ORIGIN_SECTION: &str = "an origin";
const MAX_WEIGHT: i64 = 1000;
const DEFAULT_EJECT_AFTER: i64 = 5;
const MAX_EJECT_AFTER: i64 = 1000;

/// Checks every pool. `monitors` holds every monitor name in the file, valid or not. The pool
/// names come back even when a pool is invalid, so a load balancer naming it is not also
/// reported as a dangling reference; so do the origin names, which cluster nodes must not reuse.
pub(super) fn pools(
    raw: &[Spanned<RawPool>],
    monitors: &Names,
    report: &mut Report<'_>,
) -> (Option<Vec<Pool>>, Names, Names) {
    let mut names = Names::new("pool");
    let mut origins = Names::new("origin");
    let checked: Vec<Option<Pool>> = raw
        .iter()
        .map(|pool| self::pool(pool, monitors, &mut names, &mut origins, report))
        .collect();
    (checked.into_iter().collect(), names, origins)
}

fn pool(
    spanned: &Spanned<RawPool>,
    monitors: &Names,
    names: &mut Names,
    origin_names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Pool> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SECTION, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let monitor = monitor(raw, monitors, report);
    let origins = origins(raw, at, origin_names, report);
    let minimum_origins = minimum_origins(raw, at, report);
    let origin_protocol = origin_protocol(raw, report);
    let eject_after = fields::integer(
        &raw.eject_after,
        "eject_after",
        DEFAULT_EJECT_AFTER,
        0..=MAX_EJECT_AFTER,
        report,
    )
    .and_then(|count| u32::try_from(count).ok());
    Some(Pool {
        name: PoolName::new(name?.get_ref().as_str()),
        monitor: monitor?,
        origins: origins?,
        minimum_origins: minimum_origins?,
        origin_protocol: origin_protocol?,
        eject_after: eject_after?,
    })
}

/// `origin_protocol` (default http), and `origin_allow_insecure`, which only https takes.
fn origin_protocol(raw: &RawPool, report: &mut Report<'_>) -> Option<OriginProtocol> {
    let https = match &raw.origin_protocol {
        None => false,
        Some(protocol) => match protocol.get_ref().as_str() {
            "http" => false,
            "https" => true,
            other => {
                report.error(
                    protocol.span().start,
                    format!("unknown origin_protocol `{other}` (expected http or https)"),
                );
                return None;
            }
        },
    };
    match &raw.origin_allow_insecure {
        Some(insecure) if https => Some(OriginProtocol::Https {
            allow_insecure: *insecure.get_ref(),
        }),
        None if https => Some(OriginProtocol::Https {
            allow_insecure: false,
        }),
        Some(insecure) => {
            report.error(
                insecure.span().start,
                "`origin_allow_insecure` applies to origin_protocol = \"https\", not http",
            );
            None
        }
        None => Some(OriginProtocol::Http),
    }
}

/// The optional `monitor`, which must name a `[[monitor]]`.
fn monitor(
    raw: &RawPool,
    monitors: &Names,
    report: &mut Report<'_>,
) -> Option<Option<MonitorName>> {
    let Some(monitor) = &raw.monitor else {
        return Some(None);
    };
    if !monitors.contains(monitor.get_ref()) {
        report.error(
            monitor.span().start,
            format!("no [[monitor]] is named `{}`", monitor.get_ref()),
        );
        return None;
    }
    Some(Some(MonitorName::new(monitor.get_ref().as_str())))
}

/// At least one origin, each valid, with names unique across the whole file.
fn origins(
    raw: &RawPool,
    at: usize,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Vec<Origin>> {
    let origins = fields::required(&raw.origins, "origins", SECTION, at, report)?;
    if origins.get_ref().is_empty() {
        report.error(
            origins.span().start,
            "`origins` is empty; a pool needs at least one origin",
        );
        return None;
    }
    let checked: Vec<Option<Origin>> = origins
        .get_ref()
        .iter()
        .map(|origin| self::origin(origin, names, report))
        .collect();
    checked.into_iter().collect()
}

fn origin(
    spanned: &Spanned<RawOrigin>,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Origin> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, ORIGIN_SECTION, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let address =
        fields::required(&raw.address, "address", ORIGIN_SECTION, at, report).and_then(|address| {
            HostPort::parse(address.get_ref())
                .map_err(|message| report.error(address.span().start, message))
                .ok()
        });
    let enabled = is_enabled(raw);
    let weight = fields::integer(&raw.weight, "weight", 1, 0..=MAX_WEIGHT, report)
        .and_then(|weight| u32::try_from(weight).ok());
    if weight == Some(0) && enabled {
        report.error(
            fields::position(&raw.weight).unwrap_or(at),
            "`weight` 0 in an enabled origin; give it a weight or set `enabled = false`",
        );
        return None;
    }
    Some(Origin {
        name: OriginName::new(name?.get_ref().as_str()),
        address: address?,
        weight: weight?,
        enabled,
    })
}

/// `minimum_origins`: at least 1, and no more than the pool's enabled origins.
fn minimum_origins(raw: &RawPool, at: usize, report: &mut Report<'_>) -> Option<usize> {
    let minimum = fields::integer(
        &raw.minimum_origins,
        "minimum_origins",
        1,
        1..=i64::MAX,
        report,
    )?;
    let minimum = usize::try_from(minimum).ok()?;
    let Some(origins) = &raw.origins else {
        return Some(minimum);
    };
    let origins = origins.get_ref();
    let enabled = origins.iter().filter(|o| is_enabled(o.get_ref())).count();
    if !origins.is_empty() && minimum > enabled {
        report.error(
            fields::position(&raw.minimum_origins).unwrap_or(at),
            format!(
                "`minimum_origins` is {minimum}, but the pool has only {enabled} enabled origin(s)"
            ),
        );
        return None;
    }
    Some(minimum)
}

fn is_enabled(raw: &RawOrigin) -> bool {
    raw.enabled
        .as_ref()
        .is_none_or(|enabled| *enabled.get_ref())
}
