//! The rights of the role Lifeline connects as: what it lacks of what Lifeline does, each with
//! the statement that grants it.

use lifeline_model::{Finding, NodeName};

use super::RoleRights;

/// What the role may not do of what Lifeline does. A superuser may do all of it.
pub(super) fn role_rights(
    node: &NodeName,
    role: &RoleRights,
    version: u32,
    findings: &mut Vec<Finding>,
) {
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
