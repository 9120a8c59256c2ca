//! Real-process test harness: the daemon, origins, PostgreSQL clusters, ports.
