//! `[[monitor]]`: the fields every monitor has, and which fields each `type` accepts.

use std::time::Duration;

use humantime::format_duration;
use lifeline_model::{Monitor, MonitorKind, MonitorName, PostgresCheck};
use toml::Spanned;

use super::fields::{self, Names};
use super::http;
use crate::diagnostics::Report;
use crate::raw::{Field, RawMonitor};

const SECTION: &str = "[[monitor]]";
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_THRESHOLD: i64 = 2;
const DEFAULT_DATABASE: &str = "postgres";

/// Checks every monitor. The names come back even when a monitor is invalid, so a pool naming it
/// is not also reported as a dangling reference.
pub(super) fn monitors(
    raw: &[Spanned<RawMonitor>],
    report: &mut Report<'_>,
) -> (Option<Vec<Monitor>>, Names) {
    let mut names = Names::new("monitor");
    let checked: Vec<Option<Monitor>> = raw
        .iter()
        .map(|monitor| self::monitor(monitor, &mut names, report))
        .collect();
    (checked.into_iter().collect(), names)
}

fn monitor(
    spanned: &Spanned<RawMonitor>,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Monitor> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SECTION, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let timing = timing(raw, at, report);
    let retries = retries(raw, report);
    let rise = threshold(&raw.rise, "rise", report);
    let kind = kind(raw, at, report);
    let (interval, timeout) = timing?;
    Some(Monitor {
        name: MonitorName::new(name?.get_ref().as_str()),
        kind: kind?,
        interval,
        timeout,
        retries: retries?,
        rise: rise?,
    })
}

/// `interval` and `timeout`; a check must time out before the next one is due.
fn timing(raw: &RawMonitor, at: usize, report: &mut Report<'_>) -> Option<(Duration, Duration)> {
    let interval = fields::duration(&raw.interval, "interval", DEFAULT_INTERVAL, report);
    let timeout = fields::duration(&raw.timeout, "timeout", DEFAULT_TIMEOUT, report);
    let (interval, timeout) = (interval?, timeout?);
    if timeout >= interval {
        let at = fields::position(&raw.timeout)
            .or(fields::position(&raw.interval))
            .unwrap_or(at);
        report.error(
            at,
            format!(
                "`timeout` ({}) must be shorter than `interval` ({})",
                format_duration(timeout),
                format_duration(interval)
            ),
        );
        return None;
    }
    Some((interval, timeout))
}

/// `retries`, or its alias `fall`, but not both.
fn retries(raw: &RawMonitor, report: &mut Report<'_>) -> Option<u32> {
    match (&raw.retries, &raw.fall) {
        (Some(_), Some(fall)) => {
            report.error(
                fall.span().start,
                "`fall` is another name for `retries`; give only one of them",
            );
            None
        }
        (None, Some(_)) => threshold(&raw.fall, "fall", report),
        _ => threshold(&raw.retries, "retries", report),
    }
}

/// A count of consecutive results, at least 1.
fn threshold(field: &Field<i64>, key: &str, report: &mut Report<'_>) -> Option<u32> {
    let range = 1..=i64::from(u32::MAX);
    let count = fields::integer(field, key, DEFAULT_THRESHOLD, range, report)?;
    u32::try_from(count).ok()
}

/// `type` and the fields that belong to it.
fn kind(raw: &RawMonitor, at: usize, report: &mut Report<'_>) -> Option<MonitorKind> {
    let kind = fields::required(&raw.kind, "type", SECTION, at, report)?;
    match kind.get_ref().as_str() {
        "http" => http::check(raw, false, report).map(MonitorKind::Http),
        "https" => http::check(raw, true, report).map(MonitorKind::Http),
        "tcp" => {
            let no_http = reject(&http::fields(raw), "http and https", "tcp", report);
            let no_postgres = reject(&postgres_fields(raw), "postgres", "tcp", report);
            (no_http && no_postgres).then_some(MonitorKind::Tcp)
        }
        "postgres" => {
            let no_http = reject(&http::fields(raw), "http and https", "postgres", report);
            let check = postgres(raw, at, report);
            check.filter(|_| no_http).map(MonitorKind::Postgres)
        }
        other => {
            report.error(
                kind.span().start,
                format!("unknown monitor type `{other}` (expected http, https, tcp or postgres)"),
            );
            None
        }
    }
}

fn postgres(raw: &RawMonitor, at: usize, report: &mut Report<'_>) -> Option<PostgresCheck> {
    let user = fields::required(&raw.user, "user", "a postgres [[monitor]]", at, report);
    let password = fields::secret(&raw.password, "password", report);
    let database = match &raw.database {
        Some(database) if database.get_ref().is_empty() => {
            report.error(database.span().start, "`database` must not be empty");
            None
        }
        Some(database) => Some(database.get_ref().clone()),
        None => Some(DEFAULT_DATABASE.to_string()),
    };
    let user = user?;
    if user.get_ref().is_empty() {
        report.error(user.span().start, "`user` must not be empty");
        return None;
    }
    Some(PostgresCheck {
        user: user.get_ref().clone(),
        password: password?,
        database: database?,
    })
}

/// The postgres-only keys of a monitor, with their positions when present.
pub(super) fn postgres_fields(raw: &RawMonitor) -> [(&'static str, Option<usize>); 3] {
    [
        ("user", fields::position(&raw.user)),
        ("password", fields::position(&raw.password)),
        ("database", fields::position(&raw.database)),
    ]
}

/// Reports each present key that does not belong to a `kind` monitor; true when there is none.
pub(super) fn reject(
    present: &[(&str, Option<usize>)],
    belongs_to: &str,
    kind: &str,
    report: &mut Report<'_>,
) -> bool {
    let mut clean = true;
    for (key, at) in present {
        if let Some(at) = at {
            report.error(
                *at,
                format!("`{key}` applies to {belongs_to} monitors, not {kind}"),
            );
            clean = false;
        }
    }
    clean
}
