//! From what every node of a cluster said to [`Finding`]s: pure, so every rule is tested here.
//! Findings come node by node in the cluster's order; for each node, reachability first, then
//! what disagrees across nodes, replication, settings, and the role's rights.

use std::time::Duration;

use lifeline_model::{Finding, NodeName};

use super::{NodeReading, NodeSettings, Receiver, RoleRights};

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

/// What the role may not do of what Lifeline does. A superuser may do all of it.
fn role_rights(node: &NodeName, role: &RoleRights, version: u32, findings: &mut Vec<Finding>) {
    if role.superuser {
        return;
    }
    let who = ident(&role.name);
    let name = &role.name;
    let mut add = |code, problem: String, fix: String| {
        findings.push(Finding::new(node, code, problem, fix));
    };
    if !role.pg_monitor {
        add(
            "role_not_pg_monitor",
            format!(
                "role {name} lacks the privileges of pg_monitor: it cannot see the state of \
                 replication (pg_stat_replication, pg_stat_wal_receiver) that failover \
                 decisions read"
            ),
            format!("GRANT pg_monitor TO {who}; (on the primary)"),
        );
    }
    if !role.execute_promote {
        add(
            "role_cannot_promote",
            format!("role {name} may not run pg_promote: Lifeline cannot promote this node"),
            format!(
                "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO {who}; (on the \
                 primary)"
            ),
        );
    }
    if !role.alter_system_denied.is_empty() {
        let parameters = role.alter_system_denied.join(", ");
        let fix = if version >= 150_000 {
            format!("GRANT ALTER SYSTEM ON PARAMETER {parameters} TO {who}; (on every node)")
        } else {
            format!(
                "ALTER ROLE {who} SUPERUSER; (before PostgreSQL 15 only a superuser may ALTER \
                 SYSTEM)"
            )
        };
        add(
            "role_cannot_alter_system",
            format!(
                "role {name} may not ALTER SYSTEM SET {parameters}: Lifeline cannot set the \
                 synchronous standbys, re-point a standby or fence a primary"
            ),
            fix,
        );
    }
    if !role.execute_reload {
        add(
            "role_cannot_reload",
            format!(
                "role {name} may not run pg_reload_conf: no setting Lifeline changes takes \
                 effect"
            ),
            format!("GRANT EXECUTE ON FUNCTION pg_reload_conf() TO {who}; (on the primary)"),
        );
    }
    if !role.pg_signal_backend {
        add(
            "role_cannot_signal_backends",
            format!(
                "role {name} lacks the privileges of pg_signal_backend: a switchover cannot end \
                 other roles' sessions on the old primary"
            ),
            format!("GRANT pg_signal_backend TO {who}; (on the primary)"),
        );
    }
    if !role.replication {
        add(
            "role_not_replication",
            format!(
                "role {name} has no REPLICATION attribute: a standby Lifeline re-points streams \
                 as this role (its dsn becomes primary_conninfo) and is refused"
            ),
            format!(
                "ALTER ROLE {who} REPLICATION; (on the primary, with a `replication` line for it \
                 in pg_hba.conf)"
            ),
        );
    }
}

/// A role name as an SQL identifier: bare when PostgreSQL would read it back unchanged.
fn ident(name: &str) -> String {
    let bare = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `60s`, `2.5s`, `500ms`.
fn duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    match (ms % 1000, ms % 100) {
        (0, _) => format!("{}s", ms / 1000),
        (_, 0) if ms > 1000 => format!("{}.{}s", ms / 1000, ms % 1000 / 100),
        _ => format!("{ms}ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preflight::ALTERED_PARAMETERS;

    const INTERVAL: Duration = Duration::from_millis(500);

    fn superuser() -> RoleRights {
        RoleRights {
            name: "lifeline".to_string(),
            superuser: true,
            replication: true,
            pg_monitor: true,
            pg_signal_backend: true,
            execute_promote: true,
            execute_reload: true,
            alter_system_denied: Vec::new(),
        }
    }

    /// A node with nothing to report: a primary, or a streaming standby on timeline 1.
    fn good(in_recovery: bool) -> NodeSettings {
        NodeSettings {
            version: 150_004,
            in_recovery,
            timeline: Some(1),
            receiver: if in_recovery {
                Receiver::Status("streaming".to_string())
            } else {
                Receiver::NotRunning
            },
            wal_sender_timeout_ms: Some(2000),
            wal_log_hints: true,
            data_checksums: false,
            hot_standby: true,
            role: superuser(),
        }
    }

    fn codes(readings: &[(&str, NodeReading)]) -> Vec<(String, &'static str)> {
        let readings: Vec<(NodeName, NodeReading)> = readings
            .iter()
            .map(|(name, reading)| (NodeName::new(*name), reading.clone()))
            .collect();
        evaluate(&readings, INTERVAL)
            .into_iter()
            .map(|f| (f.node.to_string(), f.code))
            .collect()
    }

    fn found(node: &str, code: &'static str) -> (String, &'static str) {
        (node.to_string(), code)
    }

    fn cluster(primary: NodeSettings, standby: NodeSettings) -> Vec<(&'static str, NodeReading)> {
        vec![
            ("pg1", NodeReading::Read(primary)),
            ("pg2", NodeReading::Read(standby)),
        ]
    }

    #[test]
    fn a_well_set_cluster_has_no_finding() {
        assert_eq!(codes(&cluster(good(false), good(true))), []);
    }

    #[test]
    fn wal_sender_timeout_at_its_default_or_more_or_disabled() {
        let mut primary = good(false);
        primary.wal_sender_timeout_ms = Some(60_000);
        let mut standby = good(true);
        standby.wal_sender_timeout_ms = Some(59_999);
        let readings: Vec<(NodeName, NodeReading)> = cluster(primary.clone(), standby)
            .into_iter()
            .map(|(name, reading)| (NodeName::new(name), reading))
            .collect();
        let findings = evaluate(&readings, INTERVAL);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, "wal_sender_timeout_default");
        assert_eq!(
            findings[0].problem,
            "wal_sender_timeout is 60s: as a primary it sends keepalives only every 30s, so a \
             standby vouches for it up to 30.5s after it hung, and a failover waits that long"
        );
        assert_eq!(
            findings[0].fix,
            "ALTER SYSTEM SET wal_sender_timeout = '5s'; SELECT pg_reload_conf();"
        );
        primary.wal_sender_timeout_ms = Some(120_000);
        let mut standby = good(true);
        standby.wal_sender_timeout_ms = Some(0);
        assert_eq!(
            codes(&cluster(primary, standby)),
            [
                found("pg1", "wal_sender_timeout_default"),
                found("pg2", "wal_sender_timeout_disabled")
            ]
        );
    }

    #[test]
    fn pg_rewind_needs_wal_log_hints_or_checksums() {
        let mut primary = good(false);
        primary.wal_log_hints = false;
        let mut standby = good(true);
        standby.wal_log_hints = false;
        standby.data_checksums = true;
        assert_eq!(
            codes(&cluster(primary, standby)),
            [found("pg1", "pg_rewind_impossible")]
        );
    }

    #[test]
    fn hot_standby_off_on_a_primary_and_a_standby_that_refuses() {
        let mut primary = good(false);
        primary.hot_standby = false;
        let readings = vec![
            ("pg1", NodeReading::Read(primary)),
            ("pg2", NodeReading::HotStandbyOff),
        ];
        assert_eq!(
            codes(&readings),
            [
                found("pg1", "hot_standby_off"),
                found("pg2", "hot_standby_off")
            ]
        );
    }

    #[test]
    fn a_standby_that_does_not_stream() {
        let mut waiting = good(true);
        waiting.receiver = Receiver::Status("waiting".to_string());
        let mut none = good(true);
        none.receiver = Receiver::NotRunning;
        let mut hidden = good(true);
        hidden.receiver = Receiver::Hidden;
        let readings = vec![
            ("pg1", NodeReading::Read(good(false))),
            ("pg2", NodeReading::Read(waiting)),
            ("pg3", NodeReading::Read(none)),
            ("pg4", NodeReading::Read(hidden)),
        ];
        assert_eq!(
            codes(&readings),
            [
                found("pg2", "standby_not_streaming"),
                found("pg3", "standby_not_streaming")
            ]
        );
    }

    #[test]
    fn timelines_that_disagree_and_several_primaries() {
        let mut standby = good(true);
        standby.timeline = Some(2);
        assert_eq!(
            codes(&cluster(good(false), standby.clone())),
            [found("pg2", "timeline_mismatch")]
        );
        // Two primaries: whose timeline a standby should be on is not known.
        let readings = vec![
            ("pg1", NodeReading::Read(good(false))),
            ("pg2", NodeReading::Read(standby)),
            ("pg3", NodeReading::Read(good(false))),
        ];
        assert_eq!(
            codes(&readings),
            [
                found("pg1", "several_primaries"),
                found("pg3", "several_primaries")
            ]
        );
    }

    #[test]
    fn an_unreachable_node_says_why() {
        let readings = vec![
            ("pg1", NodeReading::Read(good(false))),
            (
                "pg2",
                NodeReading::Unreachable("pg2: connect timed out after 2s".to_string()),
            ),
        ];
        let readings: Vec<(NodeName, NodeReading)> = readings
            .into_iter()
            .map(|(name, reading)| (NodeName::new(name), reading))
            .collect();
        let findings = evaluate(&readings, INTERVAL);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].code, "unreachable");
        assert_eq!(
            findings[0].problem,
            "Lifeline cannot reach it: pg2: connect timed out after 2s"
        );
    }

    #[test]
    fn a_role_without_rights_is_told_exactly_which_are_missing() {
        let mut primary = good(false);
        primary.role = RoleRights {
            name: "Fail Over".to_string(),
            superuser: false,
            replication: false,
            pg_monitor: false,
            pg_signal_backend: false,
            execute_promote: false,
            execute_reload: false,
            alter_system_denied: ALTERED_PARAMETERS.to_vec(),
        };
        let readings = vec![(NodeName::new("pg1"), NodeReading::Read(primary.clone()))];
        let findings: Vec<(&str, String)> = evaluate(&readings, INTERVAL)
            .into_iter()
            .map(|f| (f.code, f.fix))
            .collect();
        assert_eq!(
            findings,
            [
                (
                    "role_not_pg_monitor",
                    "GRANT pg_monitor TO \"Fail Over\"; (on the primary)"
                ),
                (
                    "role_cannot_promote",
                    "GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO \"Fail Over\"; \
                     (on the primary)"
                ),
                (
                    "role_cannot_alter_system",
                    "GRANT ALTER SYSTEM ON PARAMETER synchronous_standby_names, \
                     primary_conninfo, default_transaction_read_only TO \"Fail Over\"; (on \
                     every node)"
                ),
                (
                    "role_cannot_reload",
                    "GRANT EXECUTE ON FUNCTION pg_reload_conf() TO \"Fail Over\"; (on the \
                     primary)"
                ),
                (
                    "role_cannot_signal_backends",
                    "GRANT pg_signal_backend TO \"Fail Over\"; (on the primary)"
                ),
                (
                    "role_not_replication",
                    "ALTER ROLE \"Fail Over\" REPLICATION; (on the primary, with a \
                     `replication` line for it in pg_hba.conf)"
                ),
            ]
            .map(|(code, fix)| (code, fix.to_string()))
        );

        // Only what is missing; before PostgreSQL 15 ALTER SYSTEM needs a superuser.
        primary.version = 140_010;
        primary.role = RoleRights {
            name: "lifeline".to_string(),
            superuser: false,
            alter_system_denied: ALTERED_PARAMETERS.to_vec(),
            ..superuser()
        };
        let readings = vec![(NodeName::new("pg1"), NodeReading::Read(primary))];
        let findings = evaluate(&readings, INTERVAL);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].code, "role_cannot_alter_system");
        assert_eq!(
            findings[0].fix,
            "ALTER ROLE lifeline SUPERUSER; (before PostgreSQL 15 only a superuser may ALTER \
             SYSTEM)"
        );
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(Duration::from_secs(60)), "60s");
        assert_eq!(duration(Duration::from_millis(30_500)), "30.5s");
        assert_eq!(duration(Duration::from_millis(250)), "250ms");
        assert_eq!(duration(Duration::from_millis(1234)), "1234ms");
    }
}
