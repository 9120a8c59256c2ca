//! Real PostgreSQL clusters for integration tests: a primary and streaming standbys, started from
//! Debian's postgresql 15 binaries as the `postgres` user, each node on its own loopback port.
//!
//! - `cluster`: [`PgCluster`] and [`PgOptions`], setup with initdb and pg_basebackup, teardown.
//! - `node`: [`PgNode`], connection strings, psql, stop/start and the faults (kill -9, SIGSTOP).
//! - `conf`: the configuration text the harness writes.
//! - `exec`: finding the binaries and running them as `postgres`.
//! - `procs`: `/proc` lookups and signals.

mod cluster;
mod conf;
mod exec;
mod node;
mod procs;

pub use cluster::{PgCluster, PgOptions};
/// For other harnesses' passwords.
pub(crate) use exec::random_hex;
pub use node::PgNode;
pub use procs::process_alive;
