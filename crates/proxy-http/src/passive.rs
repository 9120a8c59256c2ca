//! Passive health: what live traffic teaches about an origin.
//!
//! Every failed attempt that the origin caused (connect error, timeout, broken response, 5xx)
//! counts against its origin, never one the client or the proxy itself caused;
//! when the origin's run of consecutive failures reaches its pool's `eject_after`, one
//! [`Ejection`] goes to the controller. The channel is bounded and never waited on: when it is
//! full the ejection is dropped and counted, and the controller's own monitors still notice.

use std::time::Duration;

use http::StatusCode;
use lifeline_model::{CheckFailure, Ejection, Timestamp};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::mpsc::{self, error::TrySendError};

use crate::error::ErrorKind;
use crate::forward::Target;

pub(crate) struct Ejector {
    sender: mpsc::Sender<Ejection>,
    dropped: Counter,
}

/// One failed attempt, as passive health sees it.
#[derive(Clone, Copy)]
pub(crate) struct Failed {
    pub(crate) kind: ErrorKind,
    /// The answer's status for [`ErrorKind::Status5xx`].
    pub(crate) status: Option<StatusCode>,
    /// The load balancer's per-attempt timeout, named by the message of a timeout.
    pub(crate) try_timeout: Duration,
}

// === impl Ejector ===

impl Ejector {
    pub(crate) fn new(sender: mpsc::Sender<Ejection>, dropped: Counter) -> Self {
        Self { sender, dropped }
    }

    /// Counts a failed attempt against its origin and reports the origin when this failure is
    /// the one that reaches the pool's `eject_after` (not the ones after it).
    pub(crate) fn failed(&self, target: Target<'_>, failed: Failed) {
        target.handles.metrics.failed(failed.kind);
        let consecutive = target.candidate.stats.record_failure();
        let threshold = target.handles.eject_after;
        if threshold == 0 || consecutive != threshold {
            return;
        }
        let origin = &target.candidate.origin;
        let ejection = Ejection {
            origin: origin.clone(),
            at: Timestamp::now(),
            consecutive_failures: consecutive,
            last_failure: CheckFailure::new(failed.kind.failure_kind(), failed.message()),
        };
        match self.sender.try_send(ejection) {
            Ok(()) => {
                tracing::info!(%origin, consecutive, kind = failed.kind.as_str(), "live traffic keeps failing; origin reported for ejection");
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.inc();
                tracing::warn!(%origin, "ejection dropped: the controller's channel is full");
            }
            Err(TrySendError::Closed(_)) => {
                tracing::debug!(%origin, "ejection not sent: the controller is gone");
            }
        }
    }
}

// === impl Failed ===

impl Failed {
    fn message(&self) -> String {
        match self.kind {
            ErrorKind::Connect | ErrorKind::Local => "live traffic: cannot connect".to_string(),
            ErrorKind::Timeout => format!(
                "live traffic: no response headers within {} ms",
                self.try_timeout.as_millis()
            ),
            ErrorKind::Protocol => {
                "live traffic: invalid response or connection closed before it".to_string()
            }
            ErrorKind::Status5xx => match self.status {
                Some(status) => format!("live traffic: answered {status}"),
                None => "live traffic: answered 5xx".to_string(),
            },
        }
    }
}
