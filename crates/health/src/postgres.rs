//! `postgres` checks: one reused connection per node and one query that reads the node's role,
//! WAL positions, replay delay and timeline.

use std::io;
use std::time::Duration;

use lifeline_model::{
    CheckFailure, FailureKind, Origin, OriginName, PostgresCheck, PostgresFacts, Secret,
};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::failure::{causes, describe, redact};
use crate::probe::{CheckFuture, Probe, observe};

/// Everything in one round trip. Functions that fail during recovery (`pg_current_wal_lsn`,
/// `pg_walfile_name`) sit behind `CASE` so a standby never evaluates them. LSNs come as bytes from
/// `0/0`. The primary's timeline is read from its WAL file name (parsed in Rust); a standby's is the
/// one its WAL receiver streams, else its last checkpoint's. `pg_stat_wal_receiver` shows
/// `received_tli` only to superusers and `pg_read_all_stats` (or `pg_monitor`) members; other
/// users get the checkpoint's timeline, which trails a new upstream timeline until the next
/// restartpoint. Verified against PostgreSQL 15, primary and streaming standby.
const FACTS_SQL: &str = "\
SELECT r.in_recovery,
       CASE WHEN r.in_recovery
            THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), '0/0')::bigint
            ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint END AS wal_lsn,
       CASE WHEN r.in_recovery
            THEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::bigint END AS replay_lsn,
       CASE WHEN r.in_recovery
            THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8
            END AS replay_delay_seconds,
       CASE WHEN NOT r.in_recovery
            THEN pg_walfile_name(pg_current_wal_lsn()) END AS primary_walfile,
       CASE WHEN r.in_recovery
            THEN coalesce((SELECT received_tli FROM pg_stat_wal_receiver LIMIT 1),
                          (pg_control_checkpoint()).timeline_id) END AS standby_timeline
FROM (SELECT pg_is_in_recovery() AS in_recovery) AS r";

/// One node's postgres check. The connection is kept while checks succeed and dropped on any
/// error or timeout; the next check connects again.
pub(crate) struct PostgresProbe {
    origin: OriginName,
    config: Config,
    password: Option<Secret>,
    session: Option<Session>,
}

/// A live connection with the facts query prepared on it.
struct Session {
    client: Client,
    statement: Statement,
    /// Held only to end the connection with the session.
    _connection: ConnectionTask,
}

/// The task that drives a connection's socket, ended when dropped: even against a node that no
/// longer answers, and even when a check is dropped halfway through connecting.
struct ConnectionTask(JoinHandle<()>);

// === impl PostgresProbe ===

impl PostgresProbe {
    pub(crate) fn new(check: &PostgresCheck, origin: &Origin, timeout: Duration) -> Self {
        let mut config = Config::new();
        config
            .host(origin.address.host.as_str())
            .port(origin.address.port)
            .user(check.user.as_str())
            .dbname(check.database.as_str())
            .application_name("lifeline-health")
            .connect_timeout(timeout);
        if let Some(password) = &check.password {
            config.password(password.expose());
        }
        Self {
            origin: origin.name.clone(),
            config,
            password: check.password.clone(),
            session: None,
        }
    }

    /// Reads the facts, connecting first if needed. The session is taken out for the check and
    /// put back only on success, so an error or a dropped future (a timeout) closes it.
    async fn read_facts(&mut self) -> Result<PostgresFacts, CheckFailure> {
        let session = match self.session.take() {
            Some(session) => session,
            None => self.connect().await?,
        };
        let row = session
            .client
            .query_one(&session.statement, &[])
            .await
            .map_err(|err| self.failure(&err))?;
        let facts = facts_from_row(&row)?;
        self.session = Some(session);
        Ok(facts)
    }

    async fn connect(&self) -> Result<Session, CheckFailure> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|err| self.failure(&err))?;
        let origin = self.origin.clone();
        let connection = ConnectionTask(tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%origin, error = %describe(&err), "postgres connection ended");
            }
        }));
        let statement = client
            .prepare(FACTS_SQL)
            .await
            .map_err(|err| self.failure(&err))?;
        Ok(Session {
            client,
            statement,
            _connection: connection,
        })
    }

    /// Classifies a driver error; the password is taken out of the message should it appear.
    fn failure(&self, err: &tokio_postgres::Error) -> CheckFailure {
        let message = describe(err);
        let message = match &self.password {
            Some(password) => redact(message, password.expose()),
            None => message,
        };
        CheckFailure::new(failure_kind(err), message)
    }
}

impl Probe for PostgresProbe {
    fn origin(&self) -> &OriginName {
        &self.origin
    }

    fn check(&mut self) -> CheckFuture<'_> {
        let origin = self.origin.clone();
        Box::pin(observe(origin, async {
            match self.read_facts().await {
                Ok(facts) => (Ok(()), Some(facts)),
                Err(failure) => (Err(failure), None),
            }
        }))
    }
}

// === impl ConnectionTask ===

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A server's answer (bad password, unknown database, failed query) is a protocol failure; a
/// socket that fails or closes is a connect failure.
fn failure_kind(err: &tokio_postgres::Error) -> FailureKind {
    if err.as_db_error().is_some() {
        return FailureKind::Protocol;
    }
    if err.is_closed() {
        return FailureKind::Connect;
    }
    if let Some(io) = causes(err).find_map(|cause| cause.downcast_ref::<io::Error>()) {
        return match io.kind() {
            io::ErrorKind::TimedOut => FailureKind::Timeout,
            _ => FailureKind::Connect,
        };
    }
    // The driver's own connect timeout has no cause to inspect, only this message.
    if err.to_string().starts_with("timeout") {
        FailureKind::Timeout
    } else {
        FailureKind::Protocol
    }
}

fn facts_from_row(row: &Row) -> Result<PostgresFacts, CheckFailure> {
    let read = |err: tokio_postgres::Error| {
        CheckFailure::new(
            FailureKind::Protocol,
            format!("unexpected facts row: {}", describe(&err)),
        )
    };
    let in_recovery: bool = row.try_get("in_recovery").map_err(read)?;
    let lsn = |column: &str| -> Result<Option<u64>, CheckFailure> {
        let value: Option<i64> = row.try_get(column).map_err(read)?;
        Ok(value.and_then(|bytes| u64::try_from(bytes).ok()))
    };
    let primary_walfile: Option<String> = row.try_get("primary_walfile").map_err(read)?;
    let standby_timeline: Option<i32> = row.try_get("standby_timeline").map_err(read)?;
    let timeline = if in_recovery {
        standby_timeline.and_then(|timeline| u32::try_from(timeline).ok())
    } else {
        primary_walfile.as_deref().and_then(timeline_of_walfile)
    };
    Ok(PostgresFacts {
        in_recovery,
        timeline,
        wal_lsn: lsn("wal_lsn")?,
        replay_lsn: lsn("replay_lsn")?,
        replay_delay_seconds: row.try_get("replay_delay_seconds").map_err(read)?,
    })
}

/// The timeline in a WAL file name: its first 8 hex digits (`000000020000000000000003` -> 2).
fn timeline_of_walfile(name: &str) -> Option<u32> {
    name.get(..8)
        .and_then(|digits| u32::from_str_radix(digits, 16).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_timeline_from_a_wal_file_name() {
        assert_eq!(timeline_of_walfile("000000010000000000000001"), Some(1));
        assert_eq!(timeline_of_walfile("0000000A00000000000000FF"), Some(10));
        assert_eq!(timeline_of_walfile("xyz"), None);
        assert_eq!(timeline_of_walfile("zzzzzzzz0000"), None);
    }
}
