//! The HTTP data plane on real sockets, against real origins.

mod failover;
mod forwarding;
mod input;
mod lifecycle;
mod origin_wire;
mod support;
