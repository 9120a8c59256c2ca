//! Real etcd for the store's tests: Debian's `etcd-server`, one member or three, on loopback.
//!
//! Each member gets two ports from [`free_port`] and a data directory in one temporary
//! directory; every member is killed when the [`Etcd`] is dropped. `etcd-server` is installed
//! with apt-get when it is missing, as `scripts/install-deps.sh` does.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use tempfile::TempDir;

use crate::ports::free_port;
use crate::wait;

const ETCD: &str = "/usr/bin/etcd";

/// A running etcd cluster.
pub struct Etcd {
    members: Vec<Member>,
    _dir: TempDir,
}

struct Member {
    name: String,
    client_url: String,
    child: Option<Child>,
}

// === impl Etcd ===

impl Etcd {
    /// One member, ready to serve.
    pub async fn start() -> Self {
        Self::with_members(1).await
    }

    /// `count` members forming one cluster, all ready to serve.
    pub async fn with_members(count: usize) -> Self {
        Self::on("127.0.0.1", count).await
    }

    /// `count` members listening on `ip` (a [`TestNet`](crate::netns::TestNet) address, so that
    /// instances in network namespaces reach them too).
    pub async fn on(ip: &str, count: usize) -> Self {
        Self::launch(ip, count, None).await
    }

    /// One member on loopback that clients reach over TLS only (`https://`), with a server
    /// certificate `ca` signs for `127.0.0.1`.
    pub async fn with_tls(ca: &crate::tls::TestCa) -> Self {
        Self::launch("127.0.0.1", 1, Some(ca)).await
    }

    async fn launch(ip: &str, count: usize, ca: Option<&crate::tls::TestCa>) -> Self {
        ensure_installed();
        let dir = tempfile::tempdir().expect("cannot create a directory for etcd");
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let initial = ports
            .iter()
            .enumerate()
            .map(|(n, (_, peer))| format!("m{n}=http://{ip}:{peer}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut members = Vec::new();
        for (n, (client, peer)) in ports.iter().enumerate() {
            let name = format!("m{n}");
            let scheme = if ca.is_some() { "https" } else { "http" };
            let client_url = format!("{scheme}://{ip}:{client}");
            let peer_url = format!("http://{ip}:{peer}");
            let log = std::fs::File::create(dir.path().join(format!("{name}.log")))
                .expect("cannot create the etcd log");
            let mut command = Command::new(ETCD);
            if let Some(ca) = ca {
                let server = ca.server(&[ip]);
                let (cert, key) = (
                    dir.path().join(format!("{name}.crt")),
                    dir.path().join(format!("{name}.key")),
                );
                std::fs::write(&cert, &server.certificate_pem).expect("cannot write a cert");
                std::fs::write(&key, &server.key_pem).expect("cannot write a key");
                command
                    .arg("--cert-file")
                    .arg(&cert)
                    .arg("--key-file")
                    .arg(&key);
            }
            let child = command
                .args(["--name", &name])
                .arg("--data-dir")
                .arg(dir.path().join(&name))
                .args(["--listen-client-urls", &client_url])
                .args(["--advertise-client-urls", &client_url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial])
                .args(["--initial-cluster-token", "lifeline-test"])
                .args(["--initial-cluster-state", "new"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {ETCD}: {e}"));
            members.push(Member {
                name,
                client_url,
                child: Some(child),
            });
        }
        let etcd = Self { members, _dir: dir };
        let client = match ca {
            Some(ca) => trusting(ca),
            None => crate::http::client().clone(),
        };
        for member in &etcd.members {
            member.wait_healthy(&client).await;
        }
        etcd
    }

    /// The client URLs of the members, running or not.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Kills member `n` with SIGKILL and waits for it to be gone.
    pub fn kill(&mut self, n: usize) {
        self.members[n].kill();
    }

    /// The PID of member `n` (for SIGSTOP and SIGCONT).
    pub fn pid(&self, n: usize) -> i32 {
        let child = self.members[n]
            .child
            .as_ref()
            .expect("the member is running");
        i32::try_from(child.id()).expect("a PID fits in i32")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for member in &mut self.members {
            member.kill();
        }
    }
}

// === impl Member ===

impl Member {
    async fn wait_healthy(&self, client: &reqwest::Client) {
        let url = format!("{}/health", self.client_url);
        let what = format!("etcd member {} to be healthy at {url}", self.name);
        wait::until(&what, Duration::from_secs(30), || async {
            let response = client.get(&url).send().await.ok()?;
            let body = response.text().await.ok()?;
            body.contains("\"health\":\"true\"").then_some(())
        })
        .await;
    }

    fn kill(&mut self) {
        crate::signal::kill_and_reap(&mut self.child, &format!("etcd member {}", self.name));
    }
}

/// Store settings for these `endpoints` under `prefix`, as the tests use them: a 2 s lease,
/// no credentials or TLS, the default health quorum.
pub fn store_settings(endpoints: &[String], prefix: &str) -> lifeline_model::EtcdSettings {
    lifeline_model::EtcdSettings {
        endpoints: endpoints.to_vec(),
        prefix: prefix.to_owned(),
        lease_ttl: Duration::from_secs(2),
        username: None,
        password: None,
        ca_file: None,
        cert_file: None,
        key_file: None,
        health_quorum: lifeline_model::HealthQuorum::Majority,
    }
}

/// An HTTP client that trusts `ca` (and only the roots it would anyway).
fn trusting(ca: &crate::tls::TestCa) -> reqwest::Client {
    crate::http::client(); // installs the rustls provider
    let root = reqwest::Certificate::from_pem(ca.certificate_pem().as_bytes())
        .expect("the test CA's certificate");
    reqwest::Client::builder()
        .no_proxy()
        .add_root_certificate(root)
        .build()
        .expect("cannot build an HTTP client trusting the test CA")
}

/// Installs `etcd-server` once per process if `/usr/bin/etcd` is missing.
fn ensure_installed() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| crate::install::ensure_package(ETCD, "etcd-server"));
}
