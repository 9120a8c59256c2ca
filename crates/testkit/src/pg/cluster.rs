//! [`PgCluster`]: a real primary with streaming standbys in a temporary directory, built the way
//! PostgreSQL's manual tells users to (initdb, then `pg_basebackup -R` for each standby: no
//! `application_name`, no `cluster_name`), and torn down (immediate shutdown, directory removed)
//! on drop.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::panic;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::conf::{self, ROLE};
use super::exec::{self, Install};
use super::node::PgNode;
use super::procs::{self, SIGCONT, SIGKILL, SIGQUIT};
use crate::ports::free_port;
use crate::tls::CertifiedKey;

/// How long the standbys get to show up as `streaming` on the primary.
const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);

/// What [`PgCluster::start_with`] builds.
#[derive(Clone, Debug, Default)]
pub struct PgOptions {
    /// Number of streaming standbys (`pg2`, `pg3`, ...); 0 gives a lone primary.
    pub standbys: usize,
    /// `synchronous_standby_names` set on the primary (`ALTER SYSTEM`) once every standby streams,
    /// e.g. `"*"` (standbys stream as `walreceiver`, pg_basebackup's default); start waits until
    /// one standby is `sync`/`quorum`, so it must match one. `None` (the default) keeps
    /// replication asynchronous.
    pub synchronous_standby_names: Option<String>,
    /// Leave every replication setting at PostgreSQL's default (`wal_sender_timeout` 60 s,
    /// `wal_log_hints` off, ...) instead of the failover-friendly ones `lifeline doctor` asks for.
    pub stock_settings: bool,
    /// Extra postgresql.conf lines (`"key = value"`) for every node, after the harness's own.
    pub extra_conf: Vec<String>,
    /// `ssl = on` on every node with this certificate and key; `None` (the default): no TLS.
    pub tls: Option<CertifiedKey>,
}

/// A primary (`pg1`) and its streaming standbys, each on its own loopback port.
///
/// The role `lifeline` (LOGIN, REPLICATION, SUPERUSER) with a random [`password`] is what
/// clients and the failover manager use over TCP; [`PgNode::psql`] uses the unix socket.
/// Dropping the cluster stops every node in immediate mode and removes its directory.
///
/// [`password`]: PgCluster::password
pub struct PgCluster {
    /// Primary first, then the standbys in order. A node is pushed before it is set up, so that
    /// a panic half-way still stops whatever was started.
    nodes: Vec<PgNode>,
    /// Password of the `lifeline` role.
    password: String,
    /// Holds every node's directory; removed after the nodes are stopped.
    root: TempDir,
}

// === impl PgCluster ===

impl PgCluster {
    /// A primary with `standbys` streaming standbys, all ready and streaming on return.
    pub fn start(standbys: usize) -> PgCluster {
        PgCluster::start_with(PgOptions {
            standbys,
            ..PgOptions::default()
        })
    }

    /// A cluster built as `options` says; blocks until every standby streams.
    pub fn start_with(options: PgOptions) -> PgCluster {
        let install = Install::get();
        let root = tempfile::Builder::new()
            .prefix("lifeline-pg-")
            .tempdir()
            .unwrap_or_else(|e| panic!("PgCluster: cannot create a temporary directory: {e}"));
        install.give(root.path());
        let mut cluster = PgCluster {
            nodes: Vec::new(),
            password: exec::random_hex(16),
            root,
        };

        cluster.add_node(1);
        cluster.init_primary(&options);

        for i in 0..options.standbys {
            cluster.add_node(i + 2);
        }
        // One base backup at a time: with the stock `wal_keep_size = 0`, one backup's fast
        // checkpoint can recycle a WAL segment before another's stream has its temporary slot.
        let backups = std::sync::Mutex::new(());
        thread::scope(|scope| {
            let handles: Vec<_> = cluster
                .standbys()
                .iter()
                .map(|standby| scope.spawn(|| cluster.init_standby(standby, &options, &backups)))
                .collect();
            for handle in handles {
                if let Err(payload) = handle.join() {
                    panic::resume_unwind(payload);
                }
            }
        });
        cluster.wait_streaming(STREAMING_TIMEOUT);

        if let Some(names) = &options.synchronous_standby_names {
            cluster.make_synchronous(names);
        }
        cluster
    }

    /// The node that was the primary at start (`pg1`). After a failover it may be a standby, or
    /// dead; a test tracks roles itself.
    pub fn primary(&self) -> &PgNode {
        &self.nodes[0]
    }

    /// The nodes that were standbys at start (`pg2`, `pg3`, ...).
    pub fn standbys(&self) -> &[PgNode] {
        &self.nodes[1..]
    }

    /// Every node, primary first.
    pub fn nodes(&self) -> &[PgNode] {
        &self.nodes
    }

    /// The node called `name` (`"pg2"`); panics if there is none.
    pub fn node(&self, name: &str) -> &PgNode {
        self.nodes
            .iter()
            .find(|node| node.name == name)
            .unwrap_or_else(|| panic!("PgCluster has no node {name:?}"))
    }

    /// The password of the `lifeline` role.
    pub fn password(&self) -> &str {
        &self.password
    }

    /// Waits until `pg_stat_replication` on [`primary`](PgCluster::primary) shows as many
    /// `streaming` standbys as the cluster has (they all stream as `walreceiver` until a failover
    /// manager names them); panics at the deadline with the logs of the primary and the standbys.
    pub fn wait_streaming(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'";
        loop {
            let streaming = self.primary().try_psql(query).unwrap_or_default();
            if streaming == self.standbys().len().to_string() {
                return;
            }
            if Instant::now() >= deadline {
                let logs: String = self
                    .standbys()
                    .iter()
                    .map(|s| format!("\n--- log of {} ---\n{}", s.name, s.log_tail(20)))
                    .collect();
                self.primary().fail(&format!(
                    "{streaming:?} of {} standbys streaming after {timeout:?}{logs}",
                    self.standbys().len()
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sets `synchronous_standby_names` on the primary and waits until a standby reports `sync`
    /// or `quorum` (the reload is asynchronous, the WAL senders pick it up a moment later).
    fn make_synchronous(&self, names: &str) {
        let primary = self.primary();
        let quoted = names.replace('\'', "''");
        primary.psql(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{quoted}'"
        ));
        primary.psql("SELECT pg_reload_conf()");
        let query = "SELECT count(*) FROM pg_stat_replication \
                     WHERE sync_state IN ('sync', 'quorum')";
        let deadline = Instant::now() + STREAMING_TIMEOUT;
        while primary.psql(query) == "0" {
            if Instant::now() >= deadline {
                primary.fail(&format!(
                    "no standby became synchronous after {STREAMING_TIMEOUT:?} with \
                     synchronous_standby_names = {names:?}"
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Pushes node `pg{n}` with a fresh port and its own directory (owned by `postgres`).
    fn add_node(&mut self, n: usize) {
        let name = format!("pg{n}");
        let dir = self.root.path().join(&name);
        fs::create_dir(&dir)
            .unwrap_or_else(|e| panic!("PgCluster: cannot create {}: {e}", dir.display()));
        Install::get().give(&dir);
        let dir = dir
            .canonicalize()
            .unwrap_or_else(|e| panic!("PgCluster: cannot resolve {}: {e}", dir.display()));
        self.nodes.push(PgNode::new(name, free_port(), dir));
    }

    /// initdb, configuration, start, and the `lifeline` role.
    fn init_primary(&self, options: &PgOptions) {
        let primary = self.primary();
        let mut initdb = Install::get().command("initdb", primary.dir());
        initdb
            .arg("-D")
            .arg(&primary.data_dir)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
            .args(["--no-sync", "--no-instructions"]);
        if let Err(e) = exec::run(&mut initdb) {
            primary.fail(&format!("initdb failed: {e}"));
        }
        append(primary, "postgresql.conf", &node_conf(primary, options));
        let hba = primary.data_dir.join("pg_hba.conf");
        fs::write(&hba, conf::HBA)
            .unwrap_or_else(|e| primary.fail(&format!("cannot write {}: {e}", hba.display())));
        primary.start();
        primary.psql(&format!(
            "CREATE ROLE {ROLE} WITH LOGIN REPLICATION SUPERUSER PASSWORD '{}'",
            self.password
        ));
    }

    /// `pg_basebackup -R` from the primary as `lifeline` (which writes `primary_conninfo` and
    /// `standby.signal`), its own port and socket directory, start.
    fn init_standby(&self, standby: &PgNode, options: &PgOptions, backups: &std::sync::Mutex<()>) {
        let primary = self.primary();
        let mut backup = Install::get().command("pg_basebackup", standby.dir());
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                ROLE,
            ])
            .arg("-D")
            .arg(&standby.data_dir)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync", "-w"])
            .env("PGPASSWORD", &self.password);
        let one_at_a_time = backups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = exec::run(&mut backup) {
            primary.fail(&format!("pg_basebackup for {} failed: {e}", standby.name));
        }
        drop(one_at_a_time);
        append(standby, "postgresql.conf", &node_conf(standby, options));
        standby.start();
    }
}

/// The lines `node` appends to its postgresql.conf: the harness's, TLS with its own copy of the
/// certificate and key (in the node's directory, outside the data directory), then `extra_conf`.
fn node_conf(node: &PgNode, options: &PgOptions) -> String {
    let mut extra = Vec::new();
    if let Some(tls) = &options.tls {
        let (certificate, key) = (node.dir().join("server.crt"), node.dir().join("server.key"));
        for (path, text) in [(&certificate, &tls.certificate_pem), (&key, &tls.key_pem)] {
            fs::write(path, text)
                .unwrap_or_else(|e| node.fail(&format!("cannot write {}: {e}", path.display())));
            Install::get().give(path);
        }
        // PostgreSQL refuses a key that others can read.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|e| node.fail(&format!("cannot chmod {}: {e}", key.display())));
        extra.push("ssl = on".to_string());
        extra.push(format!("ssl_cert_file = '{}'", certificate.display()));
        extra.push(format!("ssl_key_file = '{}'", key.display()));
    }
    extra.extend(options.extra_conf.iter().cloned());
    conf::node_conf(
        node.port,
        node.socket_dir(),
        !options.stock_settings,
        &extra,
    )
}

/// Appends `text` to the file `name` in the node's data directory (which keeps its owner).
fn append(node: &PgNode, name: &str, text: &str) {
    let path = node.data_dir.join(name);
    OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .unwrap_or_else(|e| node.fail(&format!("cannot append to {}: {e}", path.display())));
}

impl Drop for PgCluster {
    /// Immediate shutdown of every node at once (SIGQUIT to each postmaster, which is what
    /// `pg_ctl -m immediate` sends), SIGKILL for anything left after 10 s; then the directory goes.
    fn drop(&mut self) {
        let mut pids = Vec::new();
        for node in &self.nodes {
            let server = node.server_pids();
            for &pid in &server {
                procs::signal(pid, SIGCONT);
            }
            if let Some(postmaster) = node.postmaster_pid() {
                procs::signal(postmaster, SIGQUIT);
                pids.push(postmaster);
            }
            pids.extend(server);
        }
        if procs::wait_dead(&pids, Duration::from_secs(10)) {
            return;
        }
        for &pid in &pids {
            procs::signal(pid, SIGKILL);
        }
        if !procs::wait_dead(&pids, Duration::from_secs(5)) {
            eprintln!(
                "PgCluster {}: processes {pids:?} survived SIGKILL",
                self.root.path().display()
            );
        }
    }
}
