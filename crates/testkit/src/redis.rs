//! Real Redis for the tests: Debian's `redis-server`, a master and its replicas on loopback,
//! built as the Redis manual tells users to: each replica's config has `replicaof` the master
//! and `masterauth`, every node `requirepass`. Each node has its own port (from
//! [`free_port`]), config and directory in one temporary directory; every node is killed when
//! it is dropped, with the [`RedisGroup`]. `redis-server` is installed with apt-get when missing.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use redis::AsyncCommands;
use tempfile::TempDir;

use crate::ports::free_port;
use crate::signal::send_signal;
use crate::wait;

const REDIS_SERVER: &str = "/usr/bin/redis-server";

/// A master (`r1`) and its replicas (`r2`, `r3`, ...), all running.
pub struct RedisGroup {
    nodes: Vec<RedisNode>,
    password: String,
    /// TLS only: the CA certificate (PEM) the nodes' certificates chain to.
    tls_ca: Option<String>,
    _dir: TempDir,
}

/// One `redis-server` process.
pub struct RedisNode {
    pub name: String,
    pub port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl RedisGroup {
    /// A master and `replicas` replicas of it; returns once every replica's link is up.
    pub async fn start(replicas: usize) -> Self {
        Self::start_with(replicas, "").await
    }

    /// As [`start`](Self::start), with `extra` lines in every node's redis.conf (settings a
    /// user would tune, such as `repl-ping-replica-period 1`).
    pub async fn start_with(replicas: usize, extra: &str) -> Self {
        Self::start_group(replicas, extra, None).await
    }

    /// As [`start`](Self::start), every node speaking only TLS (its port is its `tls-port`,
    /// replication included) with a certificate for 127.0.0.1 signed by `ca`, and taking
    /// clients without certificates, as `tls-auth-clients no` says.
    pub async fn start_tls(replicas: usize, ca: &crate::tls::TestCa) -> Self {
        Self::start_group(replicas, "", Some(ca)).await
    }

    async fn start_group(replicas: usize, extra: &str, ca: Option<&crate::tls::TestCa>) -> Self {
        crate::install::ensure_package(REDIS_SERVER, "redis-server");
        let dir = tempfile::tempdir().expect("cannot create a directory for redis");
        let password = crate::pg::random_hex(16);
        let master_port = free_port();
        let mut nodes = Vec::new();
        for n in 0..=replicas {
            let name = format!("r{}", n + 1);
            let port = if n == 0 { master_port } else { free_port() };
            let node_dir = dir.path().join(&name);
            std::fs::create_dir(&node_dir).expect("cannot create a redis node directory");
            let listen = match ca {
                None => format!("port {port}\n"),
                Some(ca) => tls_settings(ca, &node_dir, port),
            };
            let mut config = format!(
                "{listen}bind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\n\
                 requirepass {password}\nmasterauth {password}\n",
                node_dir.display()
            );
            if n > 0 {
                config.push_str(&format!("replicaof 127.0.0.1 {master_port}\n"));
            }
            config.push_str(extra);
            config.push('\n');
            let config_path = node_dir.join("redis.conf");
            std::fs::write(&config_path, config).expect("cannot write redis.conf");
            let mut node = RedisNode {
                name,
                port,
                config: config_path,
                log: node_dir.join("redis.log"),
                child: None,
            };
            node.start();
            nodes.push(node);
        }
        let group = Self {
            nodes,
            password,
            tls_ca: ca.map(crate::tls::TestCa::certificate_pem),
            _dir: dir,
        };
        for n in 1..group.nodes.len() {
            group.wait_link_up(n).await;
        }
        group
    }

    pub fn nodes(&self) -> &[RedisNode] {
        &self.nodes
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// A connection to node `n` (authenticated; over TLS to a TLS group), or the error.
    pub async fn client(&self, n: usize) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let scheme = if self.tls_ca.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let url = format!(
            "{scheme}://:{}@127.0.0.1:{}/",
            self.password, self.nodes[n].port
        );
        let client = match &self.tls_ca {
            None => redis::Client::open(url)?,
            Some(ca) => redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(ca.clone().into_bytes()),
                },
            )?,
        };
        client.get_multiplexed_async_connection().await
    }

    /// `INFO replication` of node `n` as key-value pairs; `None` if it does not answer.
    pub async fn replication(&self, n: usize) -> Option<HashMap<String, String>> {
        let mut client = self.client(n).await.ok()?;
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut client)
            .await
            .ok()?;
        Some(
            info.lines()
                .filter_map(|line| line.trim().split_once(':'))
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        )
    }

    /// Waits until replica `n` reports its link to the master up.
    pub async fn wait_link_up(&self, n: usize) {
        let what = format!("redis {} to replicate", self.nodes[n].name);
        wait::until(&what, Duration::from_secs(20), || async {
            let info = self.replication(n).await?;
            (info.get("master_link_status").map(String::as_str) == Some("up")).then_some(())
        })
        .await;
    }

    /// `SET key value` on node `n`.
    pub async fn set(&self, n: usize, key: &str, value: &str) -> redis::RedisResult<()> {
        self.client(n).await?.set(key, value).await
    }

    /// `GET key` on node `n`.
    pub async fn get(&self, n: usize, key: &str) -> redis::RedisResult<Option<String>> {
        self.client(n).await?.get(key).await
    }

    /// Kills node `n` with SIGKILL.
    pub fn kill9(&mut self, n: usize) {
        self.nodes[n].kill();
    }

    /// Starts node `n` again on its config (after a kill).
    pub fn restart(&mut self, n: usize) {
        self.nodes[n].start();
    }

    /// Sends `signal` to node `n` (SIGSTOP, SIGCONT).
    pub fn signal(&self, n: usize, signal: i32) {
        let child = self.nodes[n].child.as_ref().expect("the node is running");
        let pid = i32::try_from(child.id()).expect("a PID fits in i32");
        assert!(
            send_signal(pid, signal),
            "redis {} is gone",
            self.nodes[n].name
        );
    }

    /// Node `n`'s redis.conf (which `CONFIG REWRITE` rewrites).
    pub fn config_path(&self, n: usize) -> &std::path::Path {
        &self.nodes[n].config
    }

    /// Everything node `n` has logged.
    pub fn log(&self, n: usize) -> String {
        std::fs::read_to_string(&self.nodes[n].log).unwrap_or_default()
    }
}

/// A TLS node's listening settings: no plain port, `tls-port` on `port`, replication over TLS,
/// and its certificate, key and CA written to `dir`.
fn tls_settings(ca: &crate::tls::TestCa, dir: &std::path::Path, port: u16) -> String {
    let server = ca.server(&["127.0.0.1", "localhost"]);
    let (cert, key) = (dir.join("redis.crt"), dir.join("redis.key"));
    std::fs::write(&cert, &server.certificate_pem).expect("cannot write the certificate");
    std::fs::write(&key, &server.key_pem).expect("cannot write the key");
    let ca_file = ca.write_certificate(dir, "ca.crt");
    format!(
        "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\ntls-ca-cert-file {}\n\
         tls-auth-clients no\ntls-replication yes\n",
        cert.display(),
        key.display(),
        ca_file.display()
    )
}

/// Debian's python3 with redis-py (`python3-redis`, installed when missing): a Sentinel-aware
/// client library, as applications use one.
pub fn python_with_redis_py() -> &'static str {
    crate::install::ensure_package(
        "/usr/lib/python3/dist-packages/redis/__init__.py",
        "python3-redis",
    );
    "/usr/bin/python3"
}

/// Each node is killed when dropped, so a panic half-way through [`RedisGroup::start`] leaves
/// none running.
impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

impl RedisNode {
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self) {
        assert!(self.child.is_none(), "redis {} is running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("cannot open the redis log");
        let child = Command::new(REDIS_SERVER)
            .arg(&self.config)
            .stdout(log)
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REDIS_SERVER}: {e}"));
        self.child = Some(child);
        crate::signal::wait_for_port(self.port, Duration::from_secs(10));
    }

    fn kill(&mut self) {
        crate::signal::kill_and_reap(&mut self.child, &format!("redis {}", self.name));
    }
}
