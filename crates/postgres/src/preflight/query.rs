//! Reading a node's [`NodeSettings`]: one statement for the settings and the role, and one more
//! on PostgreSQL 15 and later for a role that is not a superuser (`has_parameter_privilege`
//! does not exist before 15, where only a superuser may `ALTER SYSTEM`).

use tokio_postgres::Row;

use super::{ALTERED_PARAMETERS, NodeReading, NodeSettings, Receiver, RoleRights};
use crate::client::NodeClient;
use crate::error::PgError;
use crate::facts::timeline_of_walfile;

/// The detail PostgreSQL gives (in English) when a standby with `hot_standby = off` refuses a
/// connection ("the database system is not accepting connections").
const HOT_STANDBY_DISABLED: &str = "Hot standby mode is disabled";

/// Everything but the `ALTER SYSTEM` rights, in one row. A role without the privileges of
/// `pg_read_all_stats` sees the WAL receiver's pid but not its state or timeline; a standby's
/// timeline then comes from its last checkpoint. `pg_has_role(.., 'USAGE')` is "has the
/// privileges of", which is what a grant through a role gives.
const SETTINGS_SQL: &str = "\
SELECT r.in_recovery,
       CASE WHEN NOT r.in_recovery
            THEN pg_walfile_name(pg_current_wal_lsn()) END AS primary_walfile,
       CASE WHEN r.in_recovery
            THEN (pg_control_checkpoint()).timeline_id END AS checkpoint_timeline,
       w.pid IS NOT NULL AS receiver_running,
       w.status AS receiver_status,
       w.received_tli AS receiver_timeline,
       (SELECT setting::bigint FROM pg_settings WHERE name = 'wal_sender_timeout')
           AS wal_sender_timeout_ms,
       current_setting('wal_log_hints')::bool AS wal_log_hints,
       current_setting('data_checksums')::bool AS data_checksums,
       current_setting('hot_standby')::bool AS hot_standby,
       current_setting('server_version_num')::int AS version,
       current_user::text AS role,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
       (SELECT rolreplication FROM pg_roles WHERE rolname = current_user) AS replication,
       pg_has_role('pg_monitor', 'USAGE') AS pg_monitor,
       pg_has_role('pg_signal_backend', 'USAGE') AS pg_signal_backend,
       has_function_privilege('pg_promote(boolean, integer)', 'EXECUTE') AS execute_promote,
       has_function_privilege('pg_reload_conf()', 'EXECUTE') AS execute_reload
FROM (SELECT pg_is_in_recovery() AS in_recovery) AS r
LEFT JOIN pg_stat_wal_receiver AS w ON true";

/// One boolean per parameter of [`ALTERED_PARAMETERS`], in order (PostgreSQL 15 and later).
const ALTER_SYSTEM_SQL: &str = "\
SELECT has_parameter_privilege('synchronous_standby_names', 'ALTER SYSTEM'),
       has_parameter_privilege('primary_conninfo', 'ALTER SYSTEM'),
       has_parameter_privilege('default_transaction_read_only', 'ALTER SYSTEM')";

/// `has_parameter_privilege` exists from this version on.
const PARAMETER_PRIVILEGES_SINCE: u32 = 150_000;

// === impl NodeClient ===

impl NodeClient {
    /// What the node says about its settings and Lifeline's role, or why it says nothing.
    pub(crate) async fn read_settings(&mut self) -> NodeReading {
        match self.try_read_settings().await {
            Ok(settings) => NodeReading::Read(settings),
            Err(PgError::Connect { message, .. }) if message.contains(HOT_STANDBY_DISABLED) => {
                NodeReading::HotStandbyOff
            }
            Err(error) => NodeReading::Unreachable(error.to_string()),
        }
    }

    async fn try_read_settings(&mut self) -> Result<NodeSettings, PgError> {
        let session = self.session().await?;
        let row = self
            .bounded(
                "preflight",
                self.timeout(),
                session.client.query_typed_one(SETTINGS_SQL, &[]),
            )
            .await?;
        let mut settings = settings_from_row(&row).map_err(|error| PgError::Query {
            node: self.node().clone(),
            action: "preflight",
            message: error.to_string(),
        })?;
        let role = &mut settings.role;
        if !role.superuser {
            role.alter_system_denied = if settings.version >= PARAMETER_PRIVILEGES_SINCE {
                let row = self
                    .bounded(
                        "preflight",
                        self.timeout(),
                        session.client.query_typed_one(ALTER_SYSTEM_SQL, &[]),
                    )
                    .await?;
                let mut denied = Vec::new();
                for (index, parameter) in ALTERED_PARAMETERS.into_iter().enumerate() {
                    let allowed: bool = row.try_get(index).map_err(|error| PgError::Query {
                        node: self.node().clone(),
                        action: "preflight",
                        message: error.to_string(),
                    })?;
                    if !allowed {
                        denied.push(parameter);
                    }
                }
                denied
            } else {
                ALTERED_PARAMETERS.to_vec()
            };
        }
        self.keep(session);
        Ok(settings)
    }
}

/// The row of [`SETTINGS_SQL`] as [`NodeSettings`] (with every `ALTER SYSTEM` right granted:
/// the caller finds out which are not).
fn settings_from_row(row: &Row) -> Result<NodeSettings, tokio_postgres::Error> {
    let in_recovery: bool = row.try_get("in_recovery")?;
    let timeline = if in_recovery {
        let received: Option<i32> = row.try_get("receiver_timeline")?;
        let checkpoint: Option<i32> = row.try_get("checkpoint_timeline")?;
        received
            .or(checkpoint)
            .and_then(|timeline| u32::try_from(timeline).ok())
    } else {
        let walfile: Option<String> = row.try_get("primary_walfile")?;
        walfile.as_deref().and_then(timeline_of_walfile)
    };
    let receiver = match (
        row.try_get::<_, bool>("receiver_running")?,
        row.try_get::<_, Option<String>>("receiver_status")?,
    ) {
        (false, _) => Receiver::NotRunning,
        (true, None) => Receiver::Hidden,
        (true, Some(status)) => Receiver::Status(status),
    };
    let wal_sender_timeout_ms: Option<i64> = row.try_get("wal_sender_timeout_ms")?;
    let version: i32 = row.try_get("version")?;
    Ok(NodeSettings {
        version: u32::try_from(version).unwrap_or(0),
        in_recovery,
        timeline,
        receiver,
        wal_sender_timeout_ms: wal_sender_timeout_ms.and_then(|ms| u64::try_from(ms).ok()),
        wal_log_hints: row.try_get("wal_log_hints")?,
        data_checksums: row.try_get("data_checksums")?,
        hot_standby: row.try_get("hot_standby")?,
        role: RoleRights {
            name: row.try_get("role")?,
            superuser: row
                .try_get::<_, Option<bool>>("superuser")?
                .unwrap_or(false),
            replication: row
                .try_get::<_, Option<bool>>("replication")?
                .unwrap_or(false),
            pg_monitor: row.try_get("pg_monitor")?,
            pg_signal_backend: row.try_get("pg_signal_backend")?,
            execute_promote: row.try_get("execute_promote")?,
            execute_reload: row.try_get("execute_reload")?,
            alter_system_denied: Vec::new(),
        },
    })
}
