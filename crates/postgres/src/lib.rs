//! Lifeline's edge I/O towards PostgreSQL nodes, for the failover manager.
//!
//! It reads facts and carries out actions, and decides nothing: which node to promote, when to
//! fence and whom to follow are the controller's decisions, made from the facts read here.
//!
//! - `driver`: [`PgDriver`], PostgreSQL behind the cluster seam ([`ClusterDriver`]), and the
//!   translation of [`PgFacts`] into the seam's kind-neutral [`NodeFacts`].
//! - `client`: [`NodeClient`], one kept connection per node, and [`NodeClient::probe`], also the
//!   `postgres` monitor's check.
//! - `facts`: the one-round-trip facts query and how its rows become [`PgFacts`].
//! - `actions`: promote, follow, `synchronous_standby_names`, fence and unfence.
//! - `sync`: a synchronous set as `synchronous_standby_names`, and back.
//! - `preflight`: [`preflight`], the settings and role rights that make failover slow or
//!   unsafe, read from every node and evaluated (purely) into findings.
//! - `literal`: SQL string literals and conninfo values, built without parameters.
//! - `rejoin`: [`run_rejoin`], the configured shell command that turns an old primary into a
//!   standby.
//! - `tls`: rustls for Lifeline's connections, as libpq reads `sslmode` and `sslrootcert`.
//! - `error`: [`PgError`], and driver errors made into one line without secrets.
//!
//! [`ClusterDriver`]: lifeline_model::ClusterDriver
//! [`NodeFacts`]: lifeline_model::NodeFacts

mod actions;
mod client;
mod driver;
mod error;
mod facts;
mod literal;
mod preflight;
mod rejoin;
mod sync;
mod tls;

pub use client::NodeClient;
pub use driver::PgDriver;
pub use error::PgError;
pub use facts::{PgFacts, ReplicaView, WalReceiver};
pub use preflight::preflight;
pub use rejoin::run_rejoin;

use lifeline_model::{ClusterNode, PgDsn};

/// A node's connection string. Only nodes of `kind = "postgres"` clusters reach this crate
/// (the daemon picks the driver by kind), and the config gives each of them one.
pub(crate) fn dsn(node: &ClusterNode) -> &PgDsn {
    node.postgres()
        .expect("a node of a PostgreSQL cluster has a PostgreSQL connection string")
}
