//! `[[signal]]` and `[[scorecard]]`: seed 003's multi-signal scoring, as configured. A
//! scorecard sums the weights of its signals that are on into a score, and its thresholds map
//! the score to a level 0-3; how the level moves (damped) is the controller's decision.

use std::time::Duration;

use crate::names::{
    ClusterName, LoadBalancerName, NodeName, OriginName, PoolName, ScorecardName, SignalName,
};

/// Seed 003's levels: 0 (0-3) nothing, 1 (4-7) self-heal, 2 (8-10) region failover,
/// 3 (11+) disaster-recovery failover. The lowest score of levels 1, 2 and 3.
pub const SEED_LEVELS: [u32; 3] = [4, 8, 11];

/// The highest level.
pub const MAX_LEVEL: u8 = 3;

/// `[[scorecard]]`, with its signals resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Scorecard {
    pub name: ScorecardName,
    pub signals: Vec<Signal>,
    /// The lowest score of levels 1, 2 and 3, ascending.
    pub levels: [u32; 3],
    /// `for`: a higher level is entered once the score has reached it for this long.
    pub hold_for: Duration,
    /// A lower level is entered once the score has stayed below the current one this long.
    pub cool_down: Duration,
    /// After a change, a change the other way waits this long (a flapping signal cannot
    /// bounce the level); a further change the same way does not wait.
    pub hold: Duration,
}

impl Scorecard {
    /// The level a score maps to, before any damping.
    pub fn level_of(&self, score: u32) -> u8 {
        // At most 3 thresholds: the count fits.
        self.levels.iter().filter(|&&low| score >= low).count() as u8
    }
}

/// `[[signal]]`: one thing that is either on or off, with the weight it adds when on.
#[derive(Clone, Debug, PartialEq)]
pub struct Signal {
    pub name: SignalName,
    pub weight: u32,
    pub source: SignalSource,
}

/// What a signal watches.
#[derive(Clone, Debug, PartialEq)]
pub enum SignalSource {
    /// A pool is down (fewer than `minimum_origins` healthy) or, with `Degraded`, at least
    /// degraded.
    Pool { pool: PoolName, when: Severity },
    /// An origin is unhealthy.
    Origin { origin: OriginName },
    /// A load balancer has no pool that can serve (`Down`), or serves from another pool than
    /// its first default pool (`Degraded`: it has failed over).
    LoadBalancer {
        load_balancer: LoadBalancerName,
        when: Severity,
    },
    /// A cluster has no writer (`Down`), or is in any state but healthy (`Degraded`).
    Cluster {
        cluster: ClusterName,
        when: Severity,
    },
    /// A cluster node fails its checks.
    Node {
        cluster: ClusterName,
        node: NodeName,
    },
    /// A standby of the cluster lags more than the limit.
    Lag { cluster: ClusterName, above: Lag },
}

/// How bad a state must be for a signal to be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Down,
    /// Degraded or worse.
    Degraded,
}

/// A replication lag limit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lag {
    Bytes(u64),
    Time(Duration),
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Down => "down",
            Severity::Degraded => "degraded",
        }
    }
}
