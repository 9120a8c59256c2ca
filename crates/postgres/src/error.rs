//! [`PgError`]: what went wrong with which node during which action, on one line and never with
//! a secret in it; and the classification of driver errors into connect, timeout and query
//! failures.

use std::error::Error;
use std::io;
use std::process::ExitStatus;
use std::time::Duration;

use lifeline_model::{CheckFailure, FailureKind, NodeName};

/// A failed probe or action on one node. Messages come from the driver or the server with every
/// known password replaced by `***`, so they can go into a log line or an event as they are.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// The node's connection string cannot be used by the driver (an option it does not know).
    #[error("{node}: unusable connection string: {message}")]
    Config { node: NodeName, message: String },
    /// The connection could not be made, or broke (refused, reset, closed by the server).
    #[error("{node}: connection failed during {action}: {message}")]
    Connect {
        node: NodeName,
        action: &'static str,
        message: String,
    },
    /// No answer within the bound: a hung or unreachable node.
    #[error("{node}: {action} timed out after {after:?}")]
    Timeout {
        node: NodeName,
        action: &'static str,
        after: Duration,
    },
    /// The server answered with an error, or with something unexpected.
    #[error("{node}: {action} failed: {message}")]
    Query {
        node: NodeName,
        action: &'static str,
        message: String,
    },
    /// `pg_promote` returned, but the node is still in recovery.
    #[error("{node}: still in recovery after pg_promote (waited {waited:?})")]
    NotPromoted { node: NodeName, waited: Duration },
    /// `ALTER SYSTEM` and a reload did not make the setting show the new value in time.
    #[error("{node}: {setting} still shows {shown:?} after a reload, not {wanted:?}")]
    NotApplied {
        node: NodeName,
        setting: &'static str,
        shown: String,
        wanted: String,
    },
    /// The rejoin command could not be started.
    #[error("rejoin of {node}: cannot run the command: {message}")]
    RejoinSpawn { node: NodeName, message: String },
    /// The rejoin command ended unsuccessfully; `output` is the last lines it printed.
    #[error("rejoin of {node} failed ({status}): {output}")]
    RejoinFailed {
        node: NodeName,
        status: ExitStatus,
        output: String,
    },
    /// The rejoin command ran too long and was killed with its process group.
    #[error("rejoin of {node} killed after {after:?}: {output}")]
    RejoinTimeout {
        node: NodeName,
        after: Duration,
        output: String,
    },
}

// === impl PgError ===

impl PgError {
    /// The error as a failed check: connect and timeout failures keep their kind, everything
    /// else is a protocol failure (the node answered, but not as a healthy node does).
    pub(crate) fn into_check_failure(self) -> CheckFailure {
        let kind = match &self {
            PgError::Connect { .. } => FailureKind::Connect,
            PgError::Timeout { .. } => FailureKind::Timeout,
            _ => FailureKind::Protocol,
        };
        CheckFailure::new(kind, self.to_string())
    }
}

/// What a driver error means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DriverFailure {
    /// The socket failed or closed.
    Connect,
    /// The driver's own connect timeout.
    Timeout,
    /// A server error (bad password, failed statement) or an unexpected answer.
    Query,
}

/// Classifies a driver error. A socket that fails or closes is a connect failure, and so is a
/// server error that ends or refuses the session because the server is going or not there yet
/// (class `08`, and `57P*`: terminated by an administrator, crash or unexpected postmaster exit,
/// shutting down or starting up). Any other server answer is a query failure, even while
/// connecting: a bad password says the node is up.
pub(crate) fn classify(err: &tokio_postgres::Error) -> DriverFailure {
    if let Some(db) = err.as_db_error() {
        let code = db.code().code();
        return if code.starts_with("08") || code.starts_with("57P") {
            DriverFailure::Connect
        } else {
            DriverFailure::Query
        };
    }
    if err.is_closed() {
        return DriverFailure::Connect;
    }
    if let Some(io) = causes(err).find_map(|cause| cause.downcast_ref::<io::Error>()) {
        return match io.kind() {
            io::ErrorKind::TimedOut => DriverFailure::Timeout,
            _ => DriverFailure::Connect,
        };
    }
    // The driver's "timeout waiting for server" has no cause to inspect, only this message.
    if err.to_string().starts_with("timeout") {
        DriverFailure::Timeout
    } else {
        DriverFailure::Query
    }
}

/// Every message of an error chain, joined by `: ` on one line, with each secret replaced by
/// `***`. A message that the previous one already contains is skipped.
pub(crate) fn describe(err: &(dyn Error + 'static), secrets: &[&str]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(err) {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    scrub(&one_line(&parts.join(": ")), secrets)
}

/// Replaces every non-empty secret in `text` with `***`.
pub(crate) fn scrub(text: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|secret| !secret.is_empty())
        .fold(text.to_string(), |text, secret| text.replace(secret, "***"))
}

/// Folds line breaks (PostgreSQL's `DETAIL:` and `HINT:` lines) into spaces.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `err` and every error under it. Inside an `io::Error` the wrapped error itself comes next (its
/// `source()` would skip straight to the wrapped error's source).
fn causes<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&err: &&'a (dyn Error + 'static)| match err
        .downcast_ref::<io::Error>()
    {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
        None => err.source(),
    })
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|layer| layer as _)
        }
    }

    #[test]
    fn describes_a_chain_on_one_line_without_secrets() {
        let inner = Layer("FATAL: no for s3cret\nDETAIL: really", None);
        let err = Layer("db error", Some(Box::new(inner)));
        assert_eq!(
            describe(&err, &["s3cret", ""]),
            "db error: FATAL: no for *** DETAIL: really"
        );
        let repeated = Layer("refused", Some(Box::new(Layer("refused", None))));
        assert_eq!(describe(&repeated, &[]), "refused");
    }

    #[test]
    fn looks_inside_io_errors() {
        let outer = io::Error::other(io::Error::new(
            io::ErrorKind::InvalidData,
            Layer("bad", None),
        ));
        assert!(causes(&outer).any(|cause| cause.is::<Layer>()));
    }

    #[test]
    fn maps_to_check_failures() {
        let node = NodeName::new("pg1");
        let timeout = PgError::Timeout {
            node: node.clone(),
            action: "probe",
            after: Duration::from_millis(500),
        };
        let failure = timeout.into_check_failure();
        assert_eq!(failure.kind, FailureKind::Timeout);
        assert_eq!(failure.message, "pg1: probe timed out after 500ms");
        let query = PgError::Query {
            node,
            action: "probe",
            message: "ERROR: x".into(),
        };
        assert_eq!(query.into_check_failure().kind, FailureKind::Protocol);
    }
}
