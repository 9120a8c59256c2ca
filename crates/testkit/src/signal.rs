//! Signals and port readiness for the processes a test starts (by PID, never by name).

use std::net::{Ipv4Addr, TcpStream};
use std::process::Child;
use std::time::{Duration, Instant};

/// Sends `signal` to one process this test started. Returns false if it no longer exists (or
/// may not be signalled).
#[allow(unsafe_code)]
pub fn send_signal(pid: i32, signal: i32) -> bool {
    if pid <= 0 {
        // 0 and negative pids address process groups; never do that by accident.
        return false;
    }
    // SAFETY: kill(2) takes plain integers and has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) == 0 }
}

/// Waits until something accepts TCP connections on the loopback port.
pub fn wait_for_port(port: u16, deadline: Duration) {
    wait_for_address(Ipv4Addr::LOCALHOST, port, deadline);
}

/// Waits until something accepts TCP connections on `ip:port`.
pub fn wait_for_address(ip: Ipv4Addr, port: u16, deadline: Duration) {
    let start = Instant::now();
    while TcpStream::connect((ip, port)).is_err() {
        assert!(
            start.elapsed() < deadline,
            "nothing listens on {ip}:{port} after {deadline:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills the child in `slot` (SIGKILL) and reaps it, if there is one; `what` names it in the
/// message of a failure, which is only printed: this runs on drop too.
pub fn kill_and_reap(slot: &mut Option<Child>, what: &str) {
    if let Some(mut child) = slot.take() {
        if let Err(error) = child.kill() {
            eprintln!("{what}: kill: {error}");
        }
        if let Err(error) = child.wait() {
            eprintln!("{what}: wait: {error}");
        }
    }
}
