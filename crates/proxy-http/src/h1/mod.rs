//! HTTP/1.1 towards plain-HTTP origins, run by the request's own task.
//!
//! hyper's client runs each origin connection as a task of its own and passes every request,
//! response and body chunk to it and back through channels: four or five task wake-ups and as
//! many synchronised hand-offs per request, a quarter of a proxy's user-space time per request
//! (bench/http-proxy.sh). Here the request's task writes the request on a pooled connection and
//! reads the answer itself: one wake-up, when the answer arrives. The head is written straight
//! from the client's header map and parsed with httparse, which is hyper's own parser; the
//! framing rules are RFC 9112's. HTTPS origins (HTTP/2 by ALPN) keep hyper-util's client.

mod body;
mod chunked;
mod conn;
mod decode;
mod encode;
mod exchange;
#[cfg(test)]
mod properties;

pub(crate) use body::{BodyError, PlainBody};
pub(crate) use conn::OriginConn;
pub(crate) use exchange::{Outgoing, exchange};
