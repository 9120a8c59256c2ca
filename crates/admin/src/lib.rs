//! The admin API: `GET /health /ready /status /events /metrics`, `POST /reload`.
//!
//! It only reads published snapshots and the store, and asks the daemon for changes through
//! [`AdminCommand`]s: it never changes state itself. Every request that would change something
//! needs the configured bearer token.

mod auth;
mod conn;
mod error;
mod routes;
mod server;

pub use error::ApiError;
pub use routes::app;
pub use server::{AdminCommand, AdminState, PreflightResults, ReloadOutcome, serve};
