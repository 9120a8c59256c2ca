//! The HTTP data plane: a reverse proxy in front of pools of origins.
//!
//! It reads an immutable [`RoutingTable`](lifeline_model::RoutingTable) snapshot per request and
//! never waits for the controller; what it learns from live traffic (an origin failing request
//! after request) goes back to the controller through a bounded channel.
//!
//! [`DataPlane::serve`] runs one listener (HTTP/1.1 and HTTP/2, plain or TLS). Each request is
//! checked (`admit`: one valid host, a target a proxy forwards, no loop through `Via`), matched to
//! a load balancer by listener and host, planned by [`route`] into ranked candidate
//! origins, and forwarded with retries and hedging (`forward`), keep-alive connections to the
//! origins (`origin_pool`, with HTTP/1.1 run by the request's own task in `h1`; `clients` for
//! HTTPS), and passive health reports (`passive`). Answers carry
//! `X-Origin`; when no origin can serve, the client gets 503 with `Retry-After`.

mod admit;
mod body;
mod clients;
mod compiled;
mod conn;
mod error;
mod forward;
mod h1;
mod headers;
mod lifecycle;
mod metrics;
mod origin_pool;
mod passive;
mod plane;
mod proxy;
mod respond;
pub mod route;
mod serve;
mod tls;
mod upgrade;
mod upload;
mod via;

pub use metrics::ProxyMetrics;
pub use plane::DataPlane;
pub use respond::RETRY_AFTER_SECONDS;
pub use tls::{TlsError, server_tls};
