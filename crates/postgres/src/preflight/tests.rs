//! The preflight rules on made-up readings: each finding, and that a well-set cluster has none.

use std::time::Duration;

use lifeline_model::NodeName;

use super::evaluate::duration;
use super::{ALTERED_PARAMETERS, NodeReading, NodeSettings, Receiver, RoleRights, evaluate};

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
