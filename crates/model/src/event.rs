//! The append-only record of every state change and action.

use serde::{Deserialize, Serialize};

use crate::names::InstanceName;
use crate::time::Timestamp;

/// What happened. Later capabilities add kinds; stored events keep their kind as text, so an
/// older binary reading a newer log still shows them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    DaemonStarted,
    DaemonStopped,
    ConfigReloaded,
    ConfigRejected,
    OriginUp,
    OriginDown,
    /// Live traffic failed often enough to take an origin out before its monitor noticed.
    OriginEjected,
    PoolStateChanged,
    /// A load balancer's traffic moved to another pool (or back).
    Failover,
    /// Failover took longer than the load balancer's `rto_alert`.
    RtoExceeded,
    ForceSet,
    ForceCleared,
    OriginDrained,
    OriginUndrained,
    /// A database cluster's state (seed 004's states) changed.
    ClusterStateChanged,
    NodeUp,
    NodeDown,
    /// Lifeline cannot reach the primary but its standbys still hear from it: no failover.
    PrimaryUnreachable,
    FailoverStarted,
    FailoverCompleted,
    /// A failover was wanted but no standby may be promoted; the reason says why.
    FailoverRefused,
    SwitchoverStarted,
    SwitchoverCompleted,
    /// A primary found fenced with no switchover in flight (its leader was lost between fencing
    /// it and promoting the target) takes writes again.
    PrimaryUnfenced,
    /// A step (promote, re-point, ...) failed; it is retried or reported.
    ActionFailed,
    StandbyRepointed,
    /// A standby was given its node name as `application_name`, so the primary can tell it.
    StandbyAdopted,
    /// A standby streams, but the primary cannot tell which node it is: it is not synchronous.
    StandbyUnidentified,
    SyncStandbysChanged,
    SplitBrain,
    /// An old primary must be rebuilt as a standby before it may serve again.
    NeedsRejoin,
    Rejoined,
    /// This instance won the campaign and acts from now on, with a new fencing token.
    LeaderElected,
    /// This instance's leadership ended (its lease expired or was taken over): it stops acting.
    LeadershipLost,
    /// Another instance started sharing the store.
    InstanceJoined,
    /// An instance stopped refreshing its lease and is gone from the store.
    InstanceLost,
    /// A scorecard's score changed; the reason lists every signal's value, weight and state.
    ScoreChanged,
    /// A scorecard's level changed (damped: after `for`, `cool_down` and `hold`).
    LevelChanged,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DaemonStarted => "daemon_started",
            EventKind::DaemonStopped => "daemon_stopped",
            EventKind::ConfigReloaded => "config_reloaded",
            EventKind::ConfigRejected => "config_rejected",
            EventKind::OriginUp => "origin_up",
            EventKind::OriginDown => "origin_down",
            EventKind::OriginEjected => "origin_ejected",
            EventKind::PoolStateChanged => "pool_state_changed",
            EventKind::Failover => "failover",
            EventKind::RtoExceeded => "rto_exceeded",
            EventKind::ForceSet => "force_set",
            EventKind::ForceCleared => "force_cleared",
            EventKind::OriginDrained => "origin_drained",
            EventKind::OriginUndrained => "origin_undrained",
            EventKind::ClusterStateChanged => "cluster_state_changed",
            EventKind::NodeUp => "node_up",
            EventKind::NodeDown => "node_down",
            EventKind::PrimaryUnreachable => "primary_unreachable",
            EventKind::FailoverStarted => "failover_started",
            EventKind::FailoverCompleted => "failover_completed",
            EventKind::FailoverRefused => "failover_refused",
            EventKind::SwitchoverStarted => "switchover_started",
            EventKind::SwitchoverCompleted => "switchover_completed",
            EventKind::PrimaryUnfenced => "primary_unfenced",
            EventKind::ActionFailed => "action_failed",
            EventKind::StandbyRepointed => "standby_repointed",
            EventKind::StandbyAdopted => "standby_adopted",
            EventKind::StandbyUnidentified => "standby_unidentified",
            EventKind::SyncStandbysChanged => "sync_standbys_changed",
            EventKind::SplitBrain => "split_brain",
            EventKind::NeedsRejoin => "needs_rejoin",
            EventKind::Rejoined => "rejoined",
            EventKind::LeaderElected => "leader_elected",
            EventKind::LeadershipLost => "leadership_lost",
            EventKind::InstanceJoined => "instance_joined",
            EventKind::InstanceLost => "instance_lost",
            EventKind::ScoreChanged => "score_changed",
            EventKind::LevelChanged => "level_changed",
        }
    }
}

/// An event before the store gives it a sequence number.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    pub at: Timestamp,
    pub kind: EventKind,
    /// What changed: an origin, a pool, the daemon, a config file.
    pub subject: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// Why, in one line, for people.
    pub reason: String,
    /// The Lifeline instance that recorded it, stamped by the store it is appended to. Events
    /// stored before instances had names have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceName>,
    /// The fencing token of the leadership this instance held when it recorded the event:
    /// which leader's decision it is. `None` from an instance that did not lead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fencing_token: Option<u64>,
}

impl NewEvent {
    pub fn new(
        at: Timestamp,
        kind: EventKind,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            at,
            kind,
            subject: subject.into(),
            old: None,
            new: None,
            reason: reason.into(),
            instance: None,
            fencing_token: None,
        }
    }

    /// A change of state from `old` to `new`.
    pub fn transition(mut self, old: impl Into<String>, new: impl Into<String>) -> Self {
        self.old = Some(old.into());
        self.new = Some(new.into());
        self
    }
}

/// A stored event: sequence numbers start at 1 and only grow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    #[serde(flatten)]
    pub event: NewEvent,
}
