//! Health checks against real origin servers on 127.0.0.1: one test binary for every check kind
//! and the scheduler.

mod http;
mod postgres;
mod scheduler;
mod support;
mod tcp;
