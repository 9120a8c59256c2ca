//! Planning tests over small routing tables built by `support`; every random draw is seeded.

mod affinity;
mod hosts;
mod pools;
mod steering;
mod support;
