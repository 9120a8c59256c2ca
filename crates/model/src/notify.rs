//! `[[notify]]`: where alerts go. Seed 001's alerts (pool degraded, pool down, failover
//! triggered, RTO exceeded) and Lifeline's own (cluster failover, level changed), delivered at
//! least once to a webhook that takes Alertmanager's webhook body, to an Alertmanager's API,
//! or to a command.

use std::path::PathBuf;
use std::time::Duration;

use crate::names::ReceiverName;

/// One receiver of alerts.
#[derive(Clone, Debug, PartialEq)]
pub struct Receiver {
    pub name: ReceiverName,
    pub kind: ReceiverKind,
    /// The alerts it takes; all of them when the config names none.
    pub alerts: Vec<AlertName>,
    /// Changes within this long of the first one go out as one notification.
    pub group_wait: Duration,
    /// The longest one delivery may take.
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverKind {
    /// `POST url` with Alertmanager's webhook body (version 4).
    Webhook { url: String },
    /// `POST url/api/v2/alerts`, as Prometheus sends alerts to an Alertmanager.
    Alertmanager { url: String },
    /// A program, given the webhook body on its standard input; exit 0 is delivered.
    Command { program: PathBuf, args: Vec<String> },
}

/// The alerts Lifeline raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertName {
    PoolDegraded,
    PoolDown,
    /// A load balancer serves from another pool than its first default pool.
    FailoverTriggered,
    /// A failover took longer than the load balancer's `rto_alert`.
    RtoExceeded,
    /// A database cluster failed over (or is failing over) and has not healed yet.
    ClusterFailover,
    /// A scorecard is at level 1 or above.
    LevelChanged,
}

impl AlertName {
    pub const ALL: [AlertName; 6] = [
        AlertName::PoolDegraded,
        AlertName::PoolDown,
        AlertName::FailoverTriggered,
        AlertName::RtoExceeded,
        AlertName::ClusterFailover,
        AlertName::LevelChanged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertName::PoolDegraded => "pool_degraded",
            AlertName::PoolDown => "pool_down",
            AlertName::FailoverTriggered => "failover_triggered",
            AlertName::RtoExceeded => "rto_exceeded",
            AlertName::ClusterFailover => "cluster_failover",
            AlertName::LevelChanged => "level_changed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

impl Receiver {
    pub fn takes(&self, alert: AlertName) -> bool {
        self.alerts.contains(&alert)
    }
}
