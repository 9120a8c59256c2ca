//! `postgres` checks through `lifeline-postgres`'s [`NodeClient`]: the cluster loop's one facts
//! query, its kept connection and its classification of failures, so that an origin check and a
//! cluster check of the same node never disagree.

use std::time::Duration;

use lifeline_model::{NodeName, Origin, OriginName, PgDsn, PostgresCheck, PostgresFacts, SslMode};
use lifeline_postgres::{NodeClient, PgFacts};

use crate::probe::{CheckFuture, Probe, observe};

/// The `application_name` of the monitor's sessions, as `pg_stat_activity` shows them.
const APPLICATION_NAME: &str = "lifeline-health";

/// One node's postgres check. The connection is kept while checks succeed and dropped on any
/// error or timeout; the next check connects again.
pub(crate) struct PostgresProbe {
    origin: OriginName,
    client: NodeClient,
}

// === impl PostgresProbe ===

impl PostgresProbe {
    pub(crate) fn new(check: &PostgresCheck, origin: &Origin, timeout: Duration) -> Self {
        let dsn = PgDsn {
            host: origin.address.host.clone(),
            port: origin.address.port,
            user: check.user.clone(),
            password: check.password.clone(),
            dbname: check.database.clone(),
            // The monitor has no TLS keys: plain, as it always connected.
            sslmode: Some(SslMode::Disable),
            sslrootcert: None,
            options: Vec::new(),
        };
        let name = NodeName::new(origin.name.as_str());
        Self {
            origin: origin.name.clone(),
            client: NodeClient::with_dsn(name, &dsn, timeout, APPLICATION_NAME),
        }
    }
}

impl Probe for PostgresProbe {
    fn origin(&self) -> &OriginName {
        &self.origin
    }

    fn check(&mut self) -> CheckFuture<'_> {
        let origin = self.origin.clone();
        Box::pin(observe(origin, async {
            match self.client.probe().await {
                Ok(facts) => (Ok(()), Some(observed(&facts))),
                Err(failure) => (Err(failure), None),
            }
        }))
    }
}

/// What an origin's status shows of a node's facts.
fn observed(facts: &PgFacts) -> PostgresFacts {
    PostgresFacts {
        in_recovery: facts.in_recovery,
        timeline: facts.timeline,
        wal_lsn: facts.wal_lsn,
        replay_lsn: facts.replay_lsn,
        replay_delay_seconds: facts.replay_delay_seconds,
    }
}
