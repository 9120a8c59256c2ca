//! Free loopback ports for the processes a test starts.
//!
//! The kernel picks a port for `127.0.0.1:0`; we read it and release it so that the real server can
//! bind it. A process-wide set makes sure two callers in the same test binary never get the same
//! port, even if the kernel hands it out again before the first server has bound it.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

/// Ports already handed out in this process.
fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback TCP port that is free now and that this process has not handed out before.
///
/// The port is released before returning, so another process could take it in between; tests
/// bind it right away, which keeps that window small.
pub fn free_port() -> u16 {
    let mut seen = handed_out()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..1000 {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .unwrap_or_else(|e| panic!("free_port: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("free_port: cannot read the bound address: {e}"))
            .port();
        if seen.insert(port) {
            return port;
        }
    }
    panic!(
        "free_port: the kernel kept returning ports already handed out ({} so far)",
        seen.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_bindable() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        let unique: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(unique.len(), ports.len(), "duplicate port in {ports:?}");
        TcpListener::bind((Ipv4Addr::LOCALHOST, ports[0])).expect("a free port can be bound");
    }
}
