//! Lifeline's edge I/O towards PostgreSQL nodes, for the failover manager.
//!
//! It reads facts and carries out actions, and decides nothing: which node to promote, when to
//! fence and whom to follow are the controller's decisions, made from the [`NodeFacts`] read here.
//!
//! - `client`: [`NodeClient`], one kept connection per node, and [`NodeClient::probe`].
//! - `facts`: the one-round-trip facts query and how its rows become [`NodeFacts`].
//! - `actions`: promote, follow, `synchronous_standby_names`, fence and unfence.
//! - `preflight`: [`preflight`], the settings and role rights that make failover slow or
//!   unsafe, read from every node and evaluated (purely) into findings.
//! - `literal`: SQL string literals and conninfo values, built without parameters.
//! - `rejoin`: [`run_rejoin`], the configured shell command that turns an old primary into a
//!   standby.
//! - `tls`: rustls for Lifeline's connections, as libpq reads `sslmode` and `sslrootcert`.
//! - `error`: [`PgError`], and driver errors made into one line without secrets.
//!
//! [`NodeFacts`]: lifeline_model::NodeFacts

mod actions;
mod client;
mod error;
mod facts;
mod literal;
mod preflight;
mod rejoin;
mod tls;

pub use client::NodeClient;
pub use error::PgError;
pub use preflight::preflight;
pub use rejoin::run_rejoin;
