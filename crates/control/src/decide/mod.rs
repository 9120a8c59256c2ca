//! Pure decisions: `decide(&mut State, Input, now) -> Vec<Action>`. No I/O, no clock of its own, so
//! every rule is unit-tested with timestamps made up by the test.
//!
//! The state is updated in place rather than returned as a new value: with a thousand origins
//! checked every second, copying the whole state per observation would be the daemon's main cost.

mod failover;
mod hysteresis;
mod overrides;
mod pool;
mod quorum;
mod state;

pub use hysteresis::{Thresholds, Transition, eject, observe};
pub use overrides::{OVERRIDES_PREFIX, Overrides, check_drain, check_force};
pub use pool::{PoolCounts, pool_state};
pub use quorum::{Verdict, verdict};
pub use state::{Action, Input, State, decide};
