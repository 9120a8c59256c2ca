//! `lifeline-postgres` against real PostgreSQL clusters from the testkit: probes, faults,
//! promotion, following, synchronous standbys, fencing, and rejoin commands. Each test starts its
//! own cluster.

mod actions;
mod preflight;
mod probe;
mod rejoin;
mod support;
mod tls;
