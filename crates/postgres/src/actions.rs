//! The actions the failover manager carries out on a node: promote, follow a new primary, set
//! `synchronous_standby_names`, fence and unfence. Each does what it says and reports back.
//!
//! Statements go through the driver's `*_typed` calls, which never log their text (`prepare`
//! and `batch_execute` log it at debug level), so the `primary_conninfo` literal with its password
//! cannot reach a log line. `ALTER SYSTEM` takes no parameters, so values are SQL literals built
//! by `literal`.

use std::time::{Duration, Instant};

use lifeline_model::{ClusterNode, Secret};
use tokio_postgres::types::Type;

use crate::client::{NodeClient, Session};
use crate::error::PgError;
use crate::facts::timeline_of_walfile;
use crate::literal::{conninfo_pairs, primary_conninfo, sql_literal, with_application_name};

/// How often a reloaded setting, or a terminated session, is looked at again while waiting.
const POLL: Duration = Duration::from_millis(10);

/// Sends the configuration reload signal to the postmaster.
const RELOAD_SQL: &str = "SELECT pg_reload_conf()";

/// Whether the node is still in recovery, and (once it is not) its WAL file name, which starts
/// with its timeline.
const PROMOTED_SQL: &str = "\
SELECT r.in_recovery,
       CASE WHEN NOT r.in_recovery THEN pg_walfile_name(pg_current_wal_lsn()) END
FROM (SELECT pg_is_in_recovery() AS in_recovery) AS r";

/// The primary's current WAL write position, in bytes.
const CURRENT_LSN_SQL: &str = "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint";

/// Ends every other client backend (never a WAL sender or a background process) and returns the
/// pids it signalled. The CTE is materialized so that no one else is ever passed to
/// `pg_terminate_backend`.
const TERMINATE_SQL: &str = "\
WITH others AS MATERIALIZED (
    SELECT pid FROM pg_stat_activity
    WHERE backend_type = 'client backend' AND pid <> pg_backend_pid())
SELECT pid FROM others WHERE pg_terminate_backend(pid)";

/// How many of the given pids are still alive (each statement reads fresh activity statistics).
const ALIVE_SQL: &str = "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)";

// === impl NodeClient ===

impl NodeClient {
    /// `pg_promote(wait => true, wait_seconds => ceil(wait))`, then checks that the node is out of
    /// recovery and returns its new timeline. The promote statement is bounded by `wait` plus
    /// the client's timeout. A node that is not in recovery fails with PostgreSQL's error.
    pub async fn promote(&mut self, wait: Duration) -> Result<u32, PgError> {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let seconds = seconds.clamp(1, i32::MAX as u64);
        let session = self.session().await?;
        let statement = format!("SELECT pg_promote(wait => true, wait_seconds => {seconds})");
        self.bounded(
            "promote",
            wait + self.timeout(),
            session.client.execute_typed(&statement, &[]),
        )
        .await?;
        let (in_recovery, walfile): (bool, Option<String>) = self
            .bounded("promote", self.timeout(), async {
                let row = session.client.query_typed_one(PROMOTED_SQL, &[]).await?;
                Ok((row.try_get(0)?, row.try_get(1)?))
            })
            .await?;
        if in_recovery {
            return Err(PgError::NotPromoted {
                node: self.node().clone(),
                waited: Duration::from_secs(seconds),
            });
        }
        let timeline = walfile
            .as_deref()
            .and_then(timeline_of_walfile)
            .ok_or_else(|| PgError::Query {
                node: self.node().clone(),
                action: "promote",
                message: format!("no timeline in WAL file name {walfile:?}"),
            })?;
        self.keep(session);
        tracing::info!(node = %self.node(), timeline, "promoted");
        Ok(timeline)
    }

    /// Makes this standby stream from `primary` as `application_name`:
    /// `ALTER SYSTEM SET primary_conninfo` to the primary's connection string, then a reload
    /// (PostgreSQL 13+ restarts the WAL receiver on it). The conninfo is never logged, and the
    /// primary's password is scrubbed from any error.
    pub async fn follow(
        &mut self,
        primary: &ClusterNode,
        application_name: &str,
    ) -> Result<(), PgError> {
        let conninfo = primary_conninfo(crate::dsn(primary), application_name);
        let statement = format!(
            "ALTER SYSTEM SET primary_conninfo = {}",
            sql_literal(&conninfo)
        );
        let hide: Vec<&str> = crate::dsn(primary)
            .password
            .iter()
            .map(Secret::expose)
            .collect();
        let session = self.session().await?;
        self.bounded_hiding(
            "follow",
            self.timeout(),
            &hide,
            session.client.execute_typed(&statement, &[]),
        )
        .await?;
        self.reload(&session, "follow").await?;
        self.keep(session);
        tracing::info!(node = %self.node(), primary = %primary.name, "following");
        Ok(())
    }

    /// Makes this standby stream under `application_name` from the upstream it already has:
    /// its own `primary_conninfo` (as `pg_basebackup -R` or the user wrote it, kept whole) with
    /// `application_name` appended, `ALTER SYSTEM`, and a reload, which restarts the WAL
    /// receiver. Reading `primary_conninfo` takes superuser or `pg_read_all_settings`; any
    /// password in it is scrubbed from errors, and the statement is never logged.
    pub async fn stream_as(&mut self, application_name: &str) -> Result<(), PgError> {
        const ACTION: &str = "adopt";
        let session = self.session().await?;
        let current: String = self
            .bounded(ACTION, self.timeout(), async {
                session
                    .client
                    .query_typed_one("SELECT current_setting('primary_conninfo')", &[])
                    .await?
                    .try_get(0)
            })
            .await?;
        if current.trim().is_empty() {
            return Err(PgError::Query {
                node: self.node().clone(),
                action: ACTION,
                message: "primary_conninfo is empty or hidden from this role (it needs \
                          superuser or pg_read_all_settings)"
                    .to_string(),
            });
        }
        let Some(conninfo) = with_application_name(&current, application_name) else {
            self.keep(session);
            return Ok(());
        };
        let pairs = conninfo_pairs(&current);
        let hide: Vec<&str> = pairs
            .iter()
            .filter(|(key, value)| key == "password" && !value.is_empty())
            .map(|(_, value)| value.as_str())
            .collect();
        let statement = format!(
            "ALTER SYSTEM SET primary_conninfo = {}",
            sql_literal(&conninfo)
        );
        self.bounded_hiding(
            ACTION,
            self.timeout(),
            &hide,
            session.client.execute_typed(&statement, &[]),
        )
        .await?;
        self.reload(&session, ACTION).await?;
        self.keep(session);
        tracing::info!(node = %self.node(), application_name, "standby renamed for its primary");
        Ok(())
    }

    /// `ALTER SYSTEM SET synchronous_standby_names`, a reload, then waits (at most the client's
    /// timeout) until the setting shows `value`.
    pub async fn set_synchronous_standby_names(&mut self, value: &str) -> Result<(), PgError> {
        self.apply_setting(
            "set synchronous_standby_names",
            "synchronous_standby_names",
            Some(value),
            value,
        )
        .await?;
        tracing::info!(node = %self.node(), synchronous_standby_names = value, "synchronous standbys set");
        Ok(())
    }

    /// Switchover step 1 on the old primary: `default_transaction_read_only = on` through
    /// `ALTER SYSTEM` and a reload, every other client backend terminated (and waited for, at
    /// most the client's timeout), then `pg_current_wal_lsn()` in bytes: no acknowledged write
    /// can come after it.
    pub async fn fence(&mut self) -> Result<u64, PgError> {
        self.apply_setting("fence", "default_transaction_read_only", Some("on"), "on")
            .await?;
        let session = self.session().await?;
        let pids: Vec<i32> = self
            .bounded("fence", self.timeout(), async {
                let rows = session.client.query_typed(TERMINATE_SQL, &[]).await?;
                rows.iter().map(|row| row.try_get(0)).collect()
            })
            .await?;
        self.wait_ended(&session, &pids).await?;
        let lsn: i64 = self
            .bounded("fence", self.timeout(), async {
                session
                    .client
                    .query_typed_one(CURRENT_LSN_SQL, &[])
                    .await?
                    .try_get(0)
            })
            .await?;
        self.keep(session);
        let lsn = lsn.max(0).unsigned_abs();
        tracing::info!(node = %self.node(), terminated = pids.len(), lsn, "fenced");
        Ok(lsn)
    }

    /// `ALTER SYSTEM RESET default_transaction_read_only`, a reload, then waits (at most the
    /// client's timeout) until new transactions are read-write again.
    pub async fn unfence(&mut self) -> Result<(), PgError> {
        self.apply_setting("unfence", "default_transaction_read_only", None, "off")
            .await?;
        tracing::info!(node = %self.node(), "unfenced");
        Ok(())
    }

    /// `ALTER SYSTEM SET setting = value` (`RESET` for `None`), a reload, then polls until the
    /// session shows `wanted`: the postmaster reloads before it signals the backends, so once
    /// this session shows it, every session started from then on has it too.
    async fn apply_setting(
        &mut self,
        action: &'static str,
        setting: &'static str,
        value: Option<&str>,
        wanted: &str,
    ) -> Result<(), PgError> {
        let statement = match value {
            Some(value) => format!("ALTER SYSTEM SET {setting} = {}", sql_literal(value)),
            None => format!("ALTER SYSTEM RESET {setting}"),
        };
        let session = self.session().await?;
        self.bounded(
            action,
            self.timeout(),
            session.client.execute_typed(&statement, &[]),
        )
        .await?;
        self.reload(&session, action).await?;
        let deadline = Instant::now() + self.timeout();
        loop {
            let shown: String = self
                .bounded(action, self.timeout(), async {
                    session
                        .client
                        .query_typed_one("SELECT current_setting($1)", &[(&setting, Type::TEXT)])
                        .await?
                        .try_get(0)
                })
                .await?;
            if shown == wanted {
                break;
            }
            if Instant::now() >= deadline {
                return Err(PgError::NotApplied {
                    node: self.node().clone(),
                    setting,
                    shown,
                    wanted: wanted.to_string(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        self.keep(session);
        Ok(())
    }

    async fn reload(&self, session: &Session, action: &'static str) -> Result<(), PgError> {
        self.bounded(
            action,
            self.timeout(),
            session.client.execute_typed(RELOAD_SQL, &[]),
        )
        .await?;
        Ok(())
    }

    /// Waits (at most the client's timeout) until none of `pids` is alive.
    async fn wait_ended(&self, session: &Session, pids: &[i32]) -> Result<(), PgError> {
        let deadline = Instant::now() + self.timeout();
        while !pids.is_empty() {
            let alive: i64 = self
                .bounded("fence", self.timeout(), async {
                    session
                        .client
                        .query_typed_one(ALIVE_SQL, &[(&pids, Type::INT4_ARRAY)])
                        .await?
                        .try_get(0)
                })
                .await?;
            if alive == 0 {
                break;
            }
            if Instant::now() >= deadline {
                return Err(PgError::Query {
                    node: self.node().clone(),
                    action: "fence",
                    message: format!(
                        "{alive} terminated sessions still running after {:?}",
                        self.timeout()
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
        Ok(())
    }
}
