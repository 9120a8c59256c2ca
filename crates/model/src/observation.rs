//! One result of one check: what a monitor reports to the controller.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::names::OriginName;
use crate::time::Timestamp;

/// The outcome of checking one origin once.
#[derive(Clone, Debug)]
pub struct Observation {
    pub origin: OriginName,
    /// When the check started.
    pub at: Timestamp,
    /// How long the check took (up to the timeout when it timed out).
    pub latency: Duration,
    pub outcome: Result<(), CheckFailure>,
    /// What a `postgres` monitor read from the node, when it got that far.
    pub postgres: Option<PostgresFacts>,
}

impl Observation {
    pub fn is_success(&self) -> bool {
        self.outcome.is_ok()
    }
}

/// Why a check failed: a small kind for metrics and decisions, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    pub kind: FailureKind,
    /// One line, never containing a secret.
    pub message: String,
}

impl CheckFailure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The connection was refused, reset or could not be made.
    Connect,
    /// No complete answer within the monitor's timeout.
    Timeout,
    /// A status code outside `expected_codes`.
    Status,
    /// The body did not contain `expected_body`.
    Body,
    /// The TLS handshake or certificate check failed.
    Tls,
    /// The peer answered something that is not the expected protocol, or a query failed.
    Protocol,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Connect => "connect",
            FailureKind::Timeout => "timeout",
            FailureKind::Status => "status",
            FailureKind::Body => "body",
            FailureKind::Tls => "tls",
            FailureKind::Protocol => "protocol",
        }
    }
}

/// What a PostgreSQL node says about itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PostgresFacts {
    /// `pg_is_in_recovery()`: true on a standby.
    pub in_recovery: bool,
    /// The timeline the node is on.
    pub timeline: Option<u32>,
    /// On a primary `pg_current_wal_lsn()`, on a standby `pg_last_wal_receive_lsn()`, as bytes.
    pub wal_lsn: Option<u64>,
    /// `pg_last_wal_replay_lsn()` on a standby.
    pub replay_lsn: Option<u64>,
    /// Seconds since the last replayed transaction on a standby (`now() - pg_last_xact_replay_timestamp()`).
    pub replay_delay_seconds: Option<f64>,
}
