//! Lifeline's edge I/O towards Redis nodes, for the failover manager, and the
//! Sentinel-compatible discovery listener that Sentinel-aware clients use unchanged.
//!
//! It reads facts and carries out actions, and decides nothing: which replica to promote, when
//! to fence and whom to follow are the controller's decisions, made from the facts read here.
//!
//! - `driver`: [`RedisDriver`], Redis behind the cluster seam ([`ClusterDriver`]).
//! - `client`: [`RedisClient`], one kept connection per node (the `redis` crate, tokio).
//! - `facts`: `INFO replication` read into [`RedisFacts`] and the seam's [`NodeFacts`].
//! - `preflight`: the node settings that make a failover slow or unsafe.
//!
//! [`ClusterDriver`]: lifeline_model::ClusterDriver
//! [`NodeFacts`]: lifeline_model::NodeFacts

mod client;
mod driver;
mod facts;
mod preflight;
pub mod sentinel;

pub use driver::RedisDriver;
