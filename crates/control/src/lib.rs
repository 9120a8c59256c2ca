//! The controller: the one writer of Lifeline's state.
//!
//! Monitors and admin commands send it inputs; it decides with pure functions ([`decide`]) and
//! carries out the resulting actions at the edges: events go to the [`StateStore`], a fresh
//! [`StatusSnapshot`] is published for readers, metrics are updated. Nothing else changes state, so
//! every transition is serial, logged and reproducible.
//!
//! [`StateStore`]: lifeline_store::StateStore
//! [`StatusSnapshot`]: lifeline_model::StatusSnapshot

pub mod alerts;
pub mod cluster;
mod controller;
pub mod decide;
pub mod escalation;
mod metrics;
mod recorder;

pub use controller::{Controller, ControllerHandle, Heartbeat, Sharing, load_overrides};
pub use metrics::Metrics;
