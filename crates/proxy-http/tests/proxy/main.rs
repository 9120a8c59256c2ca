//! The HTTP data plane on real sockets, against real origins.

mod failover;
mod forwarding;
mod host;
mod input;
mod lifecycle;
mod origin_answers;
mod origin_requests;
mod properties;
mod scripted;
mod support;
