//! Health as the controller decides it, with the fields seed 004 reports per node.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::observation::PostgresFacts;
use crate::time::Timestamp;

/// An origin's health after hysteresis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Not checked yet.
    Unknown,
    Healthy,
    Unhealthy,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }
}

/// Seed 004's per-node health record, kept for every origin.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OriginHealth {
    pub health: Health,
    /// When the last check started.
    pub last_check: Option<Timestamp>,
    /// Consecutive failed checks (reset by a success).
    pub consecutive_failures: u32,
    /// Consecutive successful checks (reset by a failure).
    pub consecutive_successes: u32,
    /// How long the last check took.
    #[serde(serialize_with = "serialize_millis")]
    pub response_time: Option<Duration>,
    /// When the current run of failures began; `None` while the origin is healthy.
    pub down_since: Option<Timestamp>,
    /// The last failure's reason, kept after recovery for diagnosis.
    pub last_error: Option<String>,
    /// The last facts a `postgres` monitor read.
    pub postgres: Option<PostgresFacts>,
}

impl OriginHealth {
    pub fn new(health: Health) -> Self {
        Self {
            health,
            last_check: None,
            consecutive_failures: 0,
            consecutive_successes: 0,
            response_time: None,
            down_since: None,
            last_error: None,
            postgres: None,
        }
    }
}

fn serialize_millis<S: serde::Serializer>(
    value: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => serializer.serialize_f64(duration.as_secs_f64() * 1000.0),
        None => serializer.serialize_none(),
    }
}

/// A pool's state against its `minimum_origins`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolState {
    /// Some origins are not checked yet and the checked ones are not enough on their own.
    Unknown,
    /// Every enabled origin is healthy.
    Healthy,
    /// Some are unhealthy, but at least `minimum_origins` are healthy.
    Degraded,
    /// Fewer than `minimum_origins` are healthy.
    Down,
}

impl PoolState {
    pub fn as_str(self) -> &'static str {
        match self {
            PoolState::Unknown => "unknown",
            PoolState::Healthy => "healthy",
            PoolState::Degraded => "degraded",
            PoolState::Down => "down",
        }
    }

    /// Whether the pool may receive traffic.
    pub fn is_serving(self) -> bool {
        matches!(self, PoolState::Healthy | PoolState::Degraded)
    }
}
