//! One PostgreSQL server of a [`PgCluster`](super::PgCluster): where it lives, how to reach it,
//! and the real faults a test can inflict on it.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use super::conf::ROLE;
use super::exec::{self, Install};
use super::procs::{self, SIGCONT, SIGKILL, SIGSTOP};

/// How long `start` waits for the server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How many lines of the server log a panic message quotes.
const LOG_TAIL_LINES: usize = 40;

/// One PostgreSQL server, a primary or a streaming standby.
#[derive(Debug)]
pub struct PgNode {
    /// `pg1` for the first primary, then `pg2`, `pg3`, ... for the standbys.
    pub name: String,
    /// TCP port on 127.0.0.1.
    pub port: u16,
    /// The data directory (`PGDATA`), owned by `postgres`.
    pub data_dir: PathBuf,
    /// The node's own directory: holds `data_dir`, the unix socket and the log file.
    dir: PathBuf,
}

// === impl PgNode ===

impl PgNode {
    /// A node living in `dir` (which must be an absolute, canonical path).
    pub(crate) fn new(name: String, port: u16, dir: PathBuf) -> PgNode {
        PgNode {
            name,
            port,
            data_dir: dir.join("data"),
            dir,
        }
    }

    /// The node's own directory (socket, log file and data directory are inside).
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// A libpq connection string for the `lifeline` role over TCP.
    pub fn dsn(&self, password: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={ROLE} password={password} dbname=postgres",
            self.port
        )
    }

    /// `127.0.0.1:port`, for proxies and TCP monitors.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The directory of the node's unix socket (`unix_socket_directories`).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The server log (stderr of the postmaster, written through `pg_ctl -l`).
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    /// The last `lines` lines of the server log, or a note saying why there are none.
    pub fn log_tail(&self, lines: usize) -> String {
        match fs::read_to_string(self.log_file()) {
            Ok(text) => {
                let all: Vec<&str> = text.lines().collect();
                all[all.len().saturating_sub(lines)..].join("\n")
            }
            Err(e) => format!("(no log at {}: {e})", self.log_file().display()),
        }
    }

    /// The postmaster's pid from `postmaster.pid`, if that file exists and the process is alive.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid: i32 = text.lines().next()?.trim().parse().ok()?;
        procs::process_alive(pid).then_some(pid)
    }

    /// Every live process of this server: the postmaster, its children, and children orphaned by a
    /// killed postmaster that have not exited yet.
    pub fn server_pids(&self) -> Vec<i32> {
        procs::in_dir(&self.data_dir)
    }

    /// SIGKILLs the postmaster (a real crash) and waits until it is gone.
    ///
    /// Its children are not signalled: like after a real crash they notice that the postmaster died
    /// and exit on their own shortly after (usually within milliseconds; [`server_pids`] lists
    /// the ones still around). The stale `postmaster.pid` stays behind, as it would.
    ///
    /// [`server_pids`]: PgNode::server_pids
    pub fn kill9(&self) {
        let pid = self.running_pid("kill9");
        procs::signal(pid, SIGKILL);
        if !procs::wait_dead(&[pid], Duration::from_secs(5)) {
            self.fail(&format!("postmaster {pid} survived SIGKILL for 5s"));
        }
    }

    /// Hangs the whole server: SIGSTOPs the postmaster, then every child (backends, WAL sender or
    /// receiver, checkpointer...). Connections stay open but nothing answers. Undo with [`sigcont`].
    ///
    /// [`sigcont`]: PgNode::sigcont
    pub fn sigstop(&self) {
        let pid = self.running_pid("sigstop");
        procs::signal(pid, SIGSTOP);
        for child in procs::children(pid) {
            procs::signal(child, SIGSTOP);
        }
    }

    /// Resumes a server hung by [`sigstop`](PgNode::sigstop): its children, then the postmaster.
    pub fn sigcont(&self) {
        let pid = self.running_pid("sigcont");
        for child in procs::children(pid) {
            procs::signal(child, SIGCONT);
        }
        procs::signal(pid, SIGCONT);
    }

    /// Stops the server with `pg_ctl -m immediate` (no shutdown checkpoint, like a crash, but the
    /// children are gone when this returns). Resumes a SIGSTOPped server first.
    /// Stopping a node that is already down (killed or stopped) only waits for its orphans.
    pub fn stop(&self) {
        for pid in self.server_pids() {
            procs::signal(pid, SIGCONT);
        }
        if self.postmaster_pid().is_none() {
            let orphans = self.server_pids();
            if !procs::wait_dead(&orphans, Duration::from_secs(10)) {
                self.fail(&format!(
                    "stop: orphans {orphans:?} of a dead postmaster linger"
                ));
            }
            return;
        }
        let mut command = self.pg_ctl();
        command.args(["stop", "-m", "immediate", "-w", "-t", "30", "-s", "-D"]);
        command.arg(&self.data_dir);
        if let Err(e) = exec::run(&mut command) {
            self.fail(&format!("pg_ctl stop -m immediate failed: {e}"));
        }
        let left = self.server_pids();
        if !procs::wait_dead(&left, Duration::from_secs(10)) {
            self.fail(&format!("processes {left:?} outlived pg_ctl stop"));
        }
    }

    /// Starts the server again (after [`stop`] or [`kill9`]) and waits until it accepts
    /// connections. A standby resumes streaming from the primary in its `primary_conninfo`.
    ///
    /// [`stop`]: PgNode::stop
    /// [`kill9`]: PgNode::kill9
    pub fn start(&self) {
        self.start_unchecked();
        self.wait_ready(START_TIMEOUT);
    }

    /// Starts the server like [`start`](PgNode::start), but returns once `pg_ctl` sees it run,
    /// without waiting for it to accept connections (a standby with `hot_standby = off` never
    /// does).
    pub fn start_unchecked(&self) {
        if let Some(pid) = self.postmaster_pid() {
            self.fail(&format!("start: already running as pid {pid}"));
        }
        // After a SIGKILL, orphaned children still hold the shared memory segment and the
        // postmaster would refuse to start; they exit by themselves within moments.
        let orphans = self.server_pids();
        if !procs::wait_dead(&orphans, Duration::from_secs(10)) {
            self.fail(&format!(
                "start: orphans {orphans:?} of a killed postmaster linger"
            ));
        }
        // A killed postmaster leaves its lock files; if init has not reaped the zombie yet, the new
        // postmaster would take it for a live server and refuse to start.
        let socket = format!(".s.PGSQL.{}", self.port);
        for stale in [
            self.data_dir.join("postmaster.pid"),
            self.dir.join(format!("{socket}.lock")),
            self.dir.join(socket),
        ] {
            if let Err(e) = fs::remove_file(&stale)
                && e.kind() != ErrorKind::NotFound
            {
                self.fail(&format!(
                    "start: cannot remove stale {}: {e}",
                    stale.display()
                ));
            }
        }
        let mut command = self.pg_ctl();
        command.args(["start", "-w", "-t"]);
        command.arg(START_TIMEOUT.as_secs().to_string());
        command.args(["-s", "-D"]).arg(&self.data_dir);
        command.arg("-l").arg(self.log_file());
        if let Err(e) = exec::run(&mut command) {
            self.fail(&format!("pg_ctl start failed: {e}"));
        }
    }

    /// Waits until the server answers `SELECT 1` over its unix socket; panics at the deadline.
    pub fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let error = match self.try_psql("SELECT 1") {
                Ok(_) => return,
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                self.fail(&format!("not ready after {timeout:?}; last error: {error}"));
            }
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Runs `sql` with `psql -At` as `postgres` over the unix socket and returns its output
    /// without the final newline (rows on lines, columns separated by `|`). Panics with psql's
    /// stderr and the server log on failure.
    pub fn psql(&self, sql: &str) -> String {
        self.try_psql(sql)
            .unwrap_or_else(|e| self.fail(&format!("psql -c {sql:?} failed: {e}")))
    }

    /// [`psql`](PgNode::psql) that returns psql's error instead of panicking, for polling a node
    /// that may be down. Connecting gives up after 2 s (libpq's minimum), e.g. on a hung server.
    pub fn try_psql(&self, sql: &str) -> Result<String, String> {
        let mut command = Install::get().command("psql", &self.dir);
        command
            .args([
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-h"])
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-c", sql])
            .env("PGCONNECT_TIMEOUT", "2");
        let out = exec::run(&mut command)?;
        Ok(out.strip_suffix('\n').unwrap_or(&out).to_owned())
    }

    /// `pg_ctl`, run as `postgres` from the node's directory.
    fn pg_ctl(&self) -> std::process::Command {
        Install::get().command("pg_ctl", &self.dir)
    }

    /// The live postmaster's pid, or a panic naming `action`.
    fn running_pid(&self, action: &str) -> i32 {
        self.postmaster_pid()
            .unwrap_or_else(|| self.fail(&format!("{action}: the server is not running")))
    }

    /// Panics with `what`, the node's name and port, and the tail of its log.
    pub(crate) fn fail(&self, what: &str) -> ! {
        panic!(
            "PostgreSQL node {} (port {}, {}): {what}\n--- last {LOG_TAIL_LINES} lines of {} ---\n{}",
            self.name,
            self.port,
            self.data_dir.display(),
            self.log_file().display(),
            self.log_tail(LOG_TAIL_LINES)
        )
    }
}
