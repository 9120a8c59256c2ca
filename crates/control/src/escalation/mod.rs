//! Seed 003's escalation: every `[[scorecard]]` sums the weights of its signals that are on
//! into a score, and a damped level 0-3 follows the score.
//!
//! - `signals`: each signal's state from the published status, and the score (pure).
//! - `level`: the damping (`for`, `cool_down`, `hold`), with the time as an input (pure).
//! - `runtime`: the task that evaluates every scorecard a few times a second, records every
//!   score and level change as an event (while this instance leads), and publishes metrics
//!   and the status the admin API serves.

mod level;
mod metrics;
mod runtime;
mod signals;
mod status;
#[cfg(test)]
mod tests;

pub use level::{Damper, LevelChange};
pub use metrics::EscalationMetrics;
pub use runtime::{Escalation, EscalationInputs};
pub use signals::{Reading, Tally, World, describe, read, tally};
pub use status::{ScorecardStatus, SignalStatus};
