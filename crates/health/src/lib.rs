//! Monitors: http/https, tcp and postgres checks, run on a jittered schedule.
//!
//! A monitor probes and does nothing else: it reports one [`Observation`](lifeline_model::Observation)
//! per check and leaves hysteresis, scoring and every decision to the controller.
//!
//! - A [`Probe`] checks one origin for one monitor and owns what that target keeps between checks
//!   (a PostgreSQL connection). [`Prober`] builds the probes of one monitor and shares what they
//!   can (one HTTP client, with its connection pool, per monitor).
//! - [`check_within`] runs one check cut at the monitor's timeout, reported as
//!   [`FailureKind::Timeout`](lifeline_model::FailureKind::Timeout).
//! - [`Scheduler`] runs one task per (monitor, origin) target with a random first delay and a
//!   ±5 % jitter, so a thousand origins never check in lock-step.

mod failure;
mod http;
mod postgres;
mod probe;
mod scheduler;
mod tcp;

pub use probe::{CheckFuture, Probe, Prober, check_within, probe_for};
pub use scheduler::Scheduler;
