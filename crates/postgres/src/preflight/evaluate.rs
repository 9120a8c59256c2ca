//! From what every node of a cluster said to [`Finding`]s: pure, tested in `tests.rs`.
//! Findings come node by node in the cluster's order; for each node, reachability first, then
//! what disagrees across nodes, replication, settings, and the role's rights.

use std::time::Duration;

use lifeline_model::{Finding, NodeName};

use super::rights::role_rights;
use super::{NodeReading, NodeSettings, Receiver};

/// PostgreSQL's default `wal_sender_timeout`; this or more is flagged.
const DEFAULT_WAL_SENDER_TIMEOUT_MS: u64 = 60_000;

/// What the fix of a `wal_sender_timeout` finding sets.
const SUGGESTED_WAL_SENDER_TIMEOUT: &str = "5s";

/// Findings about the nodes of one cluster, from their `readings` in the cluster's order.
/// `check_interval` is the cluster's, which the silence threshold adds to a primary's keepalive
/// interval (see `hears_primary` in the cluster decisions).
pub fn evaluate(readings: &[(NodeName, NodeReading)], check_interval: Duration) -> Vec<Finding> {
    let read: Vec<(&NodeName, &NodeSettings)> = readings
        .iter()
        .filter_map(|(name, reading)| match reading {
            NodeReading::Read(settings) => Some((name, settings)),
            _ => None,
        })
        .collect();
    let primaries: Vec<(&NodeName, &NodeSettings)> = read
        .iter()
        .filter(|(_, settings)| !settings.in_recovery)
        .copied()
        .collect();
    let mut findings = Vec::new();
    for (node, reading) in readings {
        match reading {
            NodeReading::Unreachable(reason) => findings.push(unreachable(node, reason)),
            NodeReading::HotStandbyOff => findings.push(refused_as_cold_standby(node)),
            NodeReading::Read(settings) => {
                across_nodes(node, settings, &primaries, &mut findings);
                replication(node, settings, &mut findings);
                node_settings(node, settings, check_interval, &mut findings);
                role_rights(node, &settings.role, settings.version, &mut findings);
            }
        }
    }
    findings
}

fn unreachable(node: &NodeName, reason: &str) -> Finding {
    Finding::new(
        node,
        "unreachable",
        format!("Lifeline cannot reach it: {reason}"),
        "start the node, or correct its `dsn` (host, port, user, password, sslmode) or its \
         pg_hba.conf so that Lifeline can connect",
    )
}

fn refused_as_cold_standby(node: &NodeName) -> Finding {
    Finding::new(
        node,
        "hot_standby_off",
        "it refuses every connection while in recovery (hot_standby = off): Lifeline cannot \
         check it, so it is never promoted, and it serves no reads",
        "set `hot_standby = on` in its postgresql.conf and restart it (it accepts no \
         connection for ALTER SYSTEM)",
    )
}

/// Several primaries, and a standby on another timeline than the one primary.
fn across_nodes(
    node: &NodeName,
    settings: &NodeSettings,
    primaries: &[(&NodeName, &NodeSettings)],
    findings: &mut Vec<Finding>,
) {
    if !settings.in_recovery && primaries.len() > 1 {
        let others: Vec<&str> = primaries
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| *name != node.as_str())
            .collect();
        findings.push(Finding::new(
            node,
            "several_primaries",
            format!(
                "it is a primary, and so is {}: a write to one is not on the other",
                others.join(" and ")
            ),
            "keep the primary clients should write to; stop the others and rejoin them as its \
             standbys (pg_rewind, or the cluster's rejoin_command)",
        ));
    }
    let [(primary, primary_settings)] = primaries else {
        return;
    };
    if let (true, Some(mine), Some(theirs)) = (
        settings.in_recovery,
        settings.timeline,
        primary_settings.timeline,
    ) && mine != theirs
    {
        findings.push(Finding::new(
            node,
            "timeline_mismatch",
            format!(
                "it is on timeline {mine}, the primary {primary} on timeline {theirs}: it does \
                 not replay the primary's writes"
            ),
            format!(
                "if it does not move to timeline {theirs} by itself, rewind it from {primary} \
                 (pg_rewind --target-pgdata=DIR --source-server=CONNINFO) or take a new \
                 pg_basebackup"
            ),
        ));
    }
}

/// A standby whose WAL receiver does not stream.
fn replication(node: &NodeName, settings: &NodeSettings, findings: &mut Vec<Finding>) {
    // A receiver the role cannot see counts as streaming; role_not_pg_monitor says why.
    if settings.streams() {
        return;
    }
    let state = match &settings.receiver {
        Receiver::Status(status) => format!("its WAL receiver is `{status}`"),
        _ => "no WAL receiver runs".to_string(),
    };
    findings.push(Finding::new(
        node,
        "standby_not_streaming",
        format!(
            "it is a standby but {state}: it falls behind the primary and cannot be promoted \
             without losing writes"
        ),
        "check its primary_conninfo (SHOW primary_conninfo) and its server log; the primary's \
         pg_hba.conf must accept a `replication` connection from it",
    ));
}

/// `wal_sender_timeout`, pg_rewind's needs, `hot_standby` on a primary.
fn node_settings(
    node: &NodeName,
    settings: &NodeSettings,
    check_interval: Duration,
    findings: &mut Vec<Finding>,
) {
    let fix = format!(
        "ALTER SYSTEM SET wal_sender_timeout = '{SUGGESTED_WAL_SENDER_TIMEOUT}'; SELECT \
         pg_reload_conf();"
    );
    match settings.wal_sender_timeout_ms {
        Some(0) => findings.push(Finding::new(
            node,
            "wal_sender_timeout_disabled",
            "wal_sender_timeout is 0 (disabled): an idle primary sends its standbys no \
             keepalives, so they cannot vouch for it when Lifeline loses its own link to it",
            fix,
        )),
        Some(ms) if ms >= DEFAULT_WAL_SENDER_TIMEOUT_MS => {
            let keepalive = Duration::from_millis(ms / 2);
            findings.push(Finding::new(
                node,
                "wal_sender_timeout_default",
                format!(
                    "wal_sender_timeout is {}: as a primary it sends keepalives only every {}, \
                     so a standby vouches for it up to {} after it hung, and a failover waits \
                     that long",
                    duration(Duration::from_millis(ms)),
                    duration(keepalive),
                    duration(keepalive + check_interval),
                ),
                fix,
            ));
        }
        _ => {}
    }
    if !settings.wal_log_hints && !settings.data_checksums {
        findings.push(Finding::new(
            node,
            "pg_rewind_impossible",
            "wal_log_hints and data checksums are both off: pg_rewind cannot rewind it, so \
             after it lost the primary role it rejoins only through a new base backup",
            "ALTER SYSTEM SET wal_log_hints = on; then restart the node (or enable checksums \
             with pg_checksums --enable while it is stopped)",
        ));
    }
    if !settings.in_recovery && !settings.hot_standby {
        findings.push(Finding::new(
            node,
            "hot_standby_off",
            "hot_standby is off: once this primary is a standby (after a failover) it refuses \
             every connection, so Lifeline cannot check or promote it",
            "ALTER SYSTEM SET hot_standby = on; (read at its next start)",
        ));
    }
}

/// `60s`, `2.5s`, `500ms`.
pub(super) fn duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    match (ms % 1000, ms % 100) {
        (0, _) => format!("{}s", ms / 1000),
        (_, 0) if ms > 1000 => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        _ => format!("{ms}ms"),
    }
}
