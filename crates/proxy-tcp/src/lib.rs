//! The PostgreSQL cluster's writer and reader endpoints: TCP proxies in front of the cluster's
//! nodes, so that clients never change their connection string.
//!
//! The wire protocol (TLS included) passes through untouched: bytes are copied both ways and
//! never parsed. Where new connections go is a [`Route`] the controller publishes through a
//! watch channel; the proxy only reads it, so the data plane never waits on the control plane.
//!
//! [`serve`] runs one endpoint: its accept loop and shutdown live in `serve`, one client
//! connection's life in `conn`: the wait while the route holds and the connect with fallthrough
//! in `open`, the copy that a route change cuts short in `tunnel`.

mod conn;
mod metrics;
mod open;
mod route;
mod serve;
mod tunnel;

pub use metrics::TcpMetrics;
pub use route::{Backend, Route};
pub use serve::serve;
