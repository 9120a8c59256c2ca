//! Alerts: seed 001's (pool degraded, pool down, failover triggered, RTO exceeded) and
//! Lifeline's own (cluster failover, level changed), each firing and resolving, sent to the
//! `[[notify]]` receivers through an outbox in the store, so that every change is delivered
//! at least once, across restarts and changes of leader.
//!
//! - `rules`: which alerts fire now, from the published status (pure).
//! - `alert`: an alert, its fingerprint, and Alertmanager's bodies (pure).
//! - `runtime`: the leader's task that turns changes into grouped notifications.
//! - `outbox`: the notifications and the firing alerts in the store.
//!
//! Delivery (HTTP, commands) is the daemon's: it drains the outbox.

mod alert;
pub mod outbox;
mod rules;
mod runtime;

pub use alert::{Alert, Firing, Notice, Notification};
pub use rules::firing;
pub use runtime::{AlertInputs, RESEND_EVERY, run};
