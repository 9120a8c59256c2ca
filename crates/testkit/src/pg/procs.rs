//! Processes of a PostgreSQL server, found through `/proc`, and the signals the faults send them.
//!
//! `kill(2)` itself is in `crate::signal`, shared with the other processes the harness starts.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

pub(crate) use libc::{SIGCONT, SIGKILL, SIGQUIT, SIGSTOP};

/// The effective user id of this process.
#[allow(unsafe_code)]
pub(crate) fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

pub(crate) use crate::signal::send_signal as signal;

/// True when `pid` exists and is not a zombie waiting to be reaped.
///
/// A postmaster killed with SIGKILL is reparented away from the test process, and a container's
/// init may be slow to reap it, so "exists in /proc" alone is not "alive".
pub fn process_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(stat_state(&stat), Some('Z' | 'X' | 'x')),
        Err(_) => false,
    }
}

/// The state letter of a `/proc/<pid>/stat` line (after the parenthesised command name).
fn stat_state(stat: &str) -> Option<char> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().next()?.chars().next()
}

/// The parent pid of a `/proc/<pid>/stat` line.
fn stat_ppid(stat: &str) -> Option<i32> {
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(1)?.parse().ok()
}

/// All numeric entries of /proc.
fn all_pids() -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Live processes whose parent is `ppid`.
pub(crate) fn children(ppid: i32) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .is_some_and(|stat| stat_ppid(&stat) == Some(ppid))
        })
        .filter(|&pid| process_alive(pid))
        .collect()
}

/// Live processes whose working directory is `dir`.
///
/// Every PostgreSQL server process changes into its data directory, so this finds the postmaster,
/// its children, and children orphaned by a SIGKILLed postmaster that have not noticed yet.
pub(crate) fn in_dir(dir: &Path) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|&pid| fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .filter(|&pid| process_alive(pid))
        .collect()
}

/// Waits until none of `pids` is alive; false if some still are at the deadline.
pub(crate) fn wait_dead(pids: &[i32], timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !pids.iter().any(|&pid| process_alive(pid)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines_with_odd_command_names() {
        let stat = "1234 (postgres: a) b) S 77 1234 1234 0 -1";
        assert_eq!(stat_state(stat), Some('S'));
        assert_eq!(stat_ppid(stat), Some(77));
    }

    #[test]
    fn this_process_is_alive() {
        assert!(process_alive(std::process::id() as i32));
        assert!(!process_alive(0));
    }
}
