//! Real-process test harness: the daemon, origins, PostgreSQL clusters, Redis groups, etcd,
//! network namespaces, ports.

pub mod alertmanager;
pub mod daemon;
pub mod etcd;
pub mod http;
pub mod install;
pub mod netns;
pub mod origin;
pub mod pg;
pub mod ports;
pub mod redis;
pub mod redis_writes;
pub mod relay;
pub mod signal;
pub mod tls;
pub mod wait;
pub mod webhook;
pub mod writes;
