//! The writer/reader endpoints on real sockets, against real echo backends.

mod forwarding;
mod hold;
mod route_change;
mod shutdown;
mod support;
