//! [`NodeClient`]: one node's connection, kept between calls and made again after any error, with
//! every connect and statement bounded by the client's timeout; and [`NodeClient::probe`].

use std::future::Future;
use std::time::Duration;

use lifeline_model::{CheckFailure, ClusterNode, NodeName, PgDsn, Secret};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Statement};

use crate::error::{DriverFailure, PgError, classify, describe};
use crate::facts::{FACTS_SQL, PgFacts, facts_from_rows};
use crate::tls::{MakeRustls, driver_mode};

/// The `application_name` of Lifeline's own sessions, as `pg_stat_activity` shows them.
const APPLICATION_NAME: &str = "lifeline";

/// One node's connection, kept between calls and re-made after any error.
///
/// Every call takes the session out while it runs and puts it back only on success, so an error,
/// a timeout or a dropped call closes the connection and the next call connects again.
pub struct NodeClient {
    node: NodeName,
    /// The driver's configuration, or why the node's DSN cannot be one (reported by every call).
    config: Result<Config, String>,
    /// For the TLS settings (`sslmode`, `sslrootcert`), which the driver is given apart; its
    /// password is scrubbed from every message, should the driver or the server repeat it.
    dsn: PgDsn,
    /// Bound on connecting (TCP, authentication, preparing the facts query) and on each statement.
    timeout: Duration,
    session: Option<Session>,
}

/// A live connection with the facts query prepared on it.
pub(crate) struct Session {
    pub(crate) client: Client,
    facts: Statement,
    /// Held only to end the connection with the session.
    _connection: ConnectionTask,
    /// Turns `true` when the connection ends: the server closed it, or died.
    ended: watch::Receiver<bool>,
}

/// The task that drives a connection's socket, aborted when dropped: even against a node that no
/// longer answers, and even when a call is dropped halfway through connecting.
struct ConnectionTask(JoinHandle<()>);

// === impl NodeClient ===

impl NodeClient {
    /// A client for the cluster node `node` that connects on first use. `timeout` bounds
    /// connecting and each statement.
    pub fn new(node: &ClusterNode, timeout: Duration) -> Self {
        Self::with_dsn(
            node.name.clone(),
            crate::dsn(node),
            timeout,
            APPLICATION_NAME,
        )
    }

    /// A client for the server at `dsn`, called `name` in every message, whose sessions show
    /// `application_name` in `pg_stat_activity`; it connects on first use.
    pub fn with_dsn(
        name: NodeName,
        dsn: &PgDsn,
        timeout: Duration,
        application_name: &str,
    ) -> Self {
        let password: Vec<&str> = dsn.password.iter().map(Secret::expose).collect();
        let config = dsn
            .conninfo_without_tls()
            .parse::<Config>()
            .map(|mut config| {
                config
                    .application_name(application_name)
                    .connect_timeout(timeout)
                    .ssl_mode(driver_mode(dsn.ssl_mode()));
                config
            })
            .map_err(|err| describe(&err, &password));
        Self {
            node: name,
            config,
            dsn: dsn.clone(),
            timeout,
            session: None,
        }
    }

    /// Reads everything in [`PgFacts`] in one round trip (plus connecting, when not connected).
    pub async fn probe(&mut self) -> Result<PgFacts, CheckFailure> {
        self.read_facts().await.map_err(PgError::into_check_failure)
    }

    async fn read_facts(&mut self) -> Result<PgFacts, PgError> {
        let session = self.session().await?;
        let rows = self
            .bounded(
                "probe",
                self.timeout,
                session.client.query(&session.facts, &[]),
            )
            .await?;
        let facts = facts_from_rows(&rows).map_err(|message| PgError::Query {
            node: self.node.clone(),
            action: "probe",
            message,
        })?;
        self.keep(session);
        Ok(facts)
    }

    /// Resolves once the kept connection has ended (a server killed with `kill -9` takes its
    /// backends with it, and their sockets close at once); never while there is none. The caller
    /// checks the node then instead of at its next interval.
    pub async fn connection_lost(&mut self) {
        match self.session.as_mut() {
            // An `Err` means the connection task is gone, which is an end too.
            Some(session) => drop(session.ended.wait_for(|ended| *ended).await),
            None => std::future::pending().await,
        }
    }

    pub(crate) fn node(&self) -> &NodeName {
        &self.node
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The kept session, or a new one.
    pub(crate) async fn session(&mut self) -> Result<Session, PgError> {
        match self.session.take() {
            Some(session) => Ok(session),
            None => self.connect().await,
        }
    }

    /// Puts a session back after a successful call.
    pub(crate) fn keep(&mut self, session: Session) {
        self.session = Some(session);
    }

    /// Runs `work` for at most `bound`, turning driver errors into [`PgError`]s.
    pub(crate) async fn bounded<T>(
        &self,
        action: &'static str,
        bound: Duration,
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        self.bounded_hiding(action, bound, &[], work).await
    }

    /// [`bounded`](NodeClient::bounded) for a statement that carries other secrets than the
    /// node's own password; they are scrubbed from any message as well.
    pub(crate) async fn bounded_hiding<T>(
        &self,
        action: &'static str,
        bound: Duration,
        hide: &[&str],
        work: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> Result<T, PgError> {
        match tokio::time::timeout(bound, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.driver_error(action, &err, hide)),
            Err(_) => Err(PgError::Timeout {
                node: self.node.clone(),
                action,
                after: bound,
            }),
        }
    }

    /// A driver error as a [`PgError`], with the password and `hide` taken out of the message.
    pub(crate) fn driver_error(
        &self,
        action: &'static str,
        err: &tokio_postgres::Error,
        hide: &[&str],
    ) -> PgError {
        let node = self.node.clone();
        let mut secrets = hide.to_vec();
        secrets.extend(self.dsn.password.as_ref().map(Secret::expose));
        match classify(err) {
            DriverFailure::Timeout => PgError::Timeout {
                node,
                action,
                after: self.timeout,
            },
            DriverFailure::Connect => PgError::Connect {
                node,
                action,
                message: describe(err, &secrets),
            },
            DriverFailure::Query => PgError::Query {
                node,
                action,
                message: describe(err, &secrets),
            },
        }
    }

    async fn connect(&self) -> Result<Session, PgError> {
        let config = self.config.as_ref().map_err(|message| PgError::Config {
            node: self.node.clone(),
            message: message.clone(),
        })?;
        let tls = MakeRustls::for_dsn(&self.dsn).map_err(|message| PgError::Config {
            node: self.node.clone(),
            message,
        })?;
        let connecting = async {
            let (client, connection) = config.connect(tls).await?;
            let node = self.node.clone();
            let password = self.dsn.password.clone();
            let (ended_tx, ended) = watch::channel(false);
            let connection = ConnectionTask(tokio::spawn(async move {
                if let Err(err) = connection.await {
                    let secrets: Vec<&str> = password.iter().map(Secret::expose).collect();
                    tracing::debug!(%node, error = %describe(&err, &secrets), "postgres connection ended");
                }
                ended_tx.send_replace(true);
            }));
            let facts = client.prepare(FACTS_SQL).await?;
            Ok(Session {
                client,
                facts,
                _connection: connection,
                ended,
            })
        };
        self.bounded("connect", self.timeout, connecting).await
    }
}

// === impl ConnectionTask ===

impl Drop for ConnectionTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
