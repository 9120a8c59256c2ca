//! [`RedisClient`]: one node's connection, kept between calls and made again after any error,
//! with connecting and every command bounded by the client's timeout.

use std::time::Duration;

use lifeline_model::{CheckFailure, ClusterNode, FailureKind, NodeName, RedisNode};
use redis::aio::MultiplexedConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionAddr, ConnectionInfo, FromRedisValue, ProtocolVersion,
    PushInfo, PushKind, RedisConnectionInfo, TlsCertificates,
};
use tokio::sync::mpsc;

/// One node's connection, kept between calls and made again after any error.
pub struct RedisClient {
    node: NodeName,
    target: RedisNode,
    timeout: Duration,
    session: Option<Session>,
}

/// A live connection, and the library's word that it closed.
struct Session {
    connection: MultiplexedConnection,
    /// Gets [`PushKind::Disconnection`] when the node closes the connection or dies.
    pushes: mpsc::UnboundedReceiver<PushInfo>,
    /// A setting read once on this connection (`None` until read).
    keepalive: Option<Option<Duration>>,
}

/// A failed call, in one line that never holds the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisFailure {
    pub kind: FailureKind,
    pub message: String,
}

// === impl RedisClient ===

impl RedisClient {
    /// A client for the cluster node `node` that connects on first use. `timeout` bounds
    /// connecting and each command.
    pub fn new(node: &ClusterNode, timeout: Duration) -> Self {
        let target = node
            .redis()
            .expect("a node of a Redis cluster has Redis connection settings")
            .clone();
        Self {
            node: node.name.clone(),
            target,
            timeout,
            session: None,
        }
    }

    pub fn node(&self) -> &NodeName {
        &self.node
    }

    /// Runs `command`; any error closes the connection, so the next call makes a new one.
    pub async fn query<T: FromRedisValue>(
        &mut self,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
        self.query_within(command, self.timeout).await
    }

    /// As [`query`](Self::query), for a command that may take up to `limit` to answer.
    pub async fn query_within<T: FromRedisValue>(
        &mut self,
        command: &redis::Cmd,
        limit: Duration,
    ) -> Result<T, RedisFailure> {
        let connection = self.connection().await?;
        match tokio::time::timeout(limit, command.query_async(connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => {
                // A server's error reply leaves the connection usable; anything else does not.
                if error.code().is_some() && !error.is_io_error() {
                    return Err(self.failure(&error));
                }
                self.session = None;
                Err(self.failure(&error))
            }
            Err(_) => {
                self.session = None;
                Err(RedisFailure::new(
                    FailureKind::Timeout,
                    format!("{}: no answer within {limit:?}", self.node),
                ))
            }
        }
    }

    /// The master's ping period as read on the kept connection, if read yet.
    pub fn keepalive(&self) -> Option<Option<Duration>> {
        self.session.as_ref()?.keepalive
    }

    /// Keeps `keepalive` for the kept connection's life (a node restarted with another
    /// config is a new connection).
    pub fn remember_keepalive(&mut self, keepalive: Option<Duration>) {
        if let Some(session) = self.session.as_mut() {
            session.keepalive = Some(keepalive);
        }
    }

    /// Resolves when the kept connection closes; pending while there is none.
    pub async fn connection_lost(&mut self) {
        let Some(session) = self.session.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            match session.pushes.recv().await {
                Some(push) if push.kind != PushKind::Disconnection => continue,
                _ => break,
            }
        }
        self.session = None;
    }

    /// The kept connection, made first if there is none.
    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, RedisFailure> {
        if self.session.is_none() {
            let session = self.connect().await.map_err(|error| self.failure(&error))?;
            self.session = Some(session);
        }
        Ok(&mut self.session.as_mut().expect("just made").connection)
    }

    async fn connect(&self) -> redis::RedisResult<Session> {
        let client = self.client()?;
        let (sender, pushes) = mpsc::unbounded_channel();
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_push_sender(sender);
        let connection = tokio::time::timeout(
            self.timeout,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| {
            redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("connecting took longer than {:?}", self.timeout),
            ))
        })??;
        Ok(Session {
            connection,
            pushes,
            keepalive: None,
        })
    }

    /// The library's client for the node: its address, credentials and TLS.
    fn client(&self) -> redis::RedisResult<Client> {
        let target = &self.target;
        let addr = match &target.tls {
            None => ConnectionAddr::Tcp(target.host.clone(), target.port),
            Some(tls) => ConnectionAddr::TcpTls {
                host: target.host.clone(),
                port: target.port,
                insecure: tls.allow_insecure,
                tls_params: None,
            },
        };
        let info = ConnectionInfo {
            addr,
            redis: RedisConnectionInfo {
                db: 0,
                username: target.username.clone(),
                password: target.password.as_ref().map(|p| p.expose().to_string()),
                // RESP3 (Redis 6 on): the library says when a connection closes only there.
                protocol: ProtocolVersion::RESP3,
            },
        };
        match target.tls.as_ref().and_then(|tls| tls.ca_file.as_ref()) {
            Some(ca_file) => {
                let root_cert = std::fs::read(ca_file).map_err(|error| {
                    redis::RedisError::from(std::io::Error::new(
                        error.kind(),
                        format!("cannot read ca_file {}: {error}", ca_file.display()),
                    ))
                })?;
                Client::build_with_tls(
                    info,
                    TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
            None => Client::open(info),
        }
    }

    /// `error` as a failure of this node, the password scrubbed should anything repeat it.
    fn failure(&self, error: &redis::RedisError) -> RedisFailure {
        let kind = if error.is_timeout() {
            FailureKind::Timeout
        } else if error.is_io_error() || error.is_connection_refusal() {
            FailureKind::Connect
        } else if error.to_string().contains("TLS") || error.to_string().contains("certificate") {
            FailureKind::Tls
        } else {
            FailureKind::Protocol
        };
        let mut message = format!("{}: {error}", self.node);
        if let Some(password) = &self.target.password {
            message = message.replace(password.expose(), "***");
        }
        RedisFailure { kind, message }
    }
}

// === impl RedisFailure ===

impl RedisFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<RedisFailure> for CheckFailure {
    fn from(failure: RedisFailure) -> Self {
        CheckFailure::new(failure.kind, failure.message)
    }
}
