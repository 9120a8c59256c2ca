//! `lifeline demo --ha`: three Lifeline instances on a local etcd in front of the same origins.
//! A client sends a steady stream of requests to one instance and moves to the next when its
//! instance refuses or drops the connection, sending the GET again (as a client of a DNS name
//! with several addresses, or of a libpq multi-host DSN, does). The leader is killed with SIGKILL; another instance leads a lease later, and
//! the client sees no error, only one reconnect.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use super::{Processes, REQUEST_EVERY, Tally, http_sections, step, tempdir};
use crate::client::events_table;

const INSTANCES: usize = 3;
const LEASE_TTL: &str = "2s";

pub(super) async fn demo() -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("cannot find the lifeline binary")?;
    if Command::new("etcd").arg("--version").output().is_err() {
        bail!("etcd is not installed: run scripts/install-deps.sh (Debian's etcd-server)");
    }
    let dir = tempdir()?;
    let ports = free_ports(3 + 2 + 2 * INSTANCES)?;
    let (origins, rest) = ports.split_at(3);
    let (etcd, instances) = rest.split_at(2);
    let mut processes = Processes::default();
    processes.start_etcd(&dir, etcd[0], etcd[1])?;
    for (name, port) in ["primary-a", "primary-b", "backup-a"]
        .into_iter()
        .zip(origins)
    {
        processes.start_origin(&binary, name, *port)?;
    }
    let instances: Vec<(String, u16, u16)> = instances
        .chunks(2)
        .enumerate()
        .map(|(i, pair)| (format!("lb-{}", i + 1), pair[0], pair[1]))
        .collect();
    println!(
        "Lifeline demo, several instances: etcd on 127.0.0.1:{}",
        etcd[0]
    );
    for (n, (name, lb, admin)) in instances.iter().enumerate() {
        let config = dir.join(format!("{name}.toml"));
        std::fs::write(&config, config_text(name, *lb, *admin, etcd[0], origins))
            .context("cannot write the demo config")?;
        processes.start_daemon(&binary, name, &config, &dir.join(format!("{name}.log")))?;
        println!(
            "  {name}: load balancer http://127.0.0.1:{lb}, admin API http://127.0.0.1:{admin}"
        );
        if n == 0 {
            // The first to start leads.
            wait_leader(&[admin_url(*admin)], Duration::from_secs(15)).await?;
        }
    }
    for (_, _, admin) in &instances {
        super::wait_ready(&admin_url(*admin)).await?;
    }
    let admins: Vec<String> = instances.iter().map(|(_, _, a)| admin_url(*a)).collect();
    println!();
    print_instances(&admins[1]).await?;

    let urls = instances
        .iter()
        .map(|(_, lb, _)| format!("http://127.0.0.1:{lb}/"))
        .collect();
    let tally = Tally::default();
    let reconnects = Arc::new(AtomicU64::new(0));
    let client = tokio::spawn(client_loop(urls, tally.clone(), reconnects.clone()));
    step(
        &tally,
        "1. Three instances serving, the client on lb-1",
        Duration::from_secs(3),
    )
    .await;

    println!("2. kill -9 lb-1, the leader");
    processes.kill("lb-1")?;
    let killed = Instant::now();
    let leader = wait_leader(&admins[1..], Duration::from_secs(20)).await?;
    println!(
        "   {} leads with fencing token {}, {:.1}s after the kill",
        leader["name"].as_str().unwrap_or("?"),
        leader["fencing_token"],
        killed.elapsed().as_secs_f64()
    );
    step(
        &tally,
        "   the client moved to lb-2",
        Duration::from_secs(3),
    )
    .await;

    client.abort();
    let totals = tally.take_all();
    println!(
        "What the client saw in all: {} requests, {} errors, {} reconnect(s) to another instance",
        totals.requests,
        totals.errors,
        reconnects.load(Ordering::Relaxed)
    );
    println!("{}\n", totals.by_origin());
    print_instances(&admins[1]).await?;
    let events: Value = reqwest::get(format!("{}/events?limit=100", admins[1]))
        .await?
        .json()
        .await?;
    println!("The shared event log:");
    print!("{}", events_table(&events));
    if totals.errors > 0 {
        bail!("the client saw {} errors", totals.errors);
    }
    Ok(())
}

fn admin_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

fn free_ports(count: usize) -> anyhow::Result<Vec<u16>> {
    // All bound at once, so no two are the same.
    let held: Vec<TcpListener> = (0..count)
        .map(|_| TcpListener::bind("127.0.0.1:0").context("cannot find a free port"))
        .collect::<Result<_, _>>()?;
    held.iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect::<std::io::Result<_>>()
        .context("cannot read a port")
}

fn config_text(name: &str, lb: u16, admin: u16, etcd: u16, origins: &[u16]) -> String {
    format!(
        r#"[instance]
name = "{name}"

[store]
backend = "etcd"
endpoints = ["http://127.0.0.1:{etcd}"]
prefix = "/lifeline/demo"
lease_ttl = "{LEASE_TTL}"

[admin]
listen = "127.0.0.1:{admin}"

{}"#,
        http_sections([origins[0], origins[1], origins[2]], lb)
    )
}

/// Requests through one instance; when it refuses the connection or drops it mid-request, the
/// same GET through the next one.
async fn client_loop(urls: Vec<String>, tally: Tally, reconnects: Arc<AtomicU64>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds");
    let current = AtomicUsize::new(0);
    loop {
        let started = Instant::now();
        let mut origin = None;
        for _ in 0..urls.len() {
            let index = current.load(Ordering::Relaxed);
            match client.get(&urls[index]).send().await {
                Ok(response) => {
                    if response.status().is_success() {
                        origin = response
                            .headers()
                            .get("x-origin")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                    }
                    break;
                }
                // Refused, or cut off mid-request by the instance's death: a GET may be sent
                // again, to the next instance.
                Err(_) => {
                    current.store((index + 1) % urls.len(), Ordering::Relaxed);
                    reconnects.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        tally.add(origin);
        tokio::time::sleep(REQUEST_EVERY.saturating_sub(started.elapsed())).await;
    }
}

/// Waits until one of these instances says it leads; returns its entry.
async fn wait_leader(admins: &[String], deadline: Duration) -> anyhow::Result<Value> {
    let start = Instant::now();
    loop {
        for admin in admins {
            if let Ok(response) = reqwest::get(format!("{admin}/status")).await
                && let Ok(status) = response.json::<Value>().await
                && status["instances"][0]["role"] == "leader"
            {
                return Ok(status["instances"][0].clone());
            }
        }
        if start.elapsed() > deadline {
            bail!("no instance leads after {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn print_instances(admin: &str) -> anyhow::Result<()> {
    let status: Value = reqwest::get(format!("{admin}/status"))
        .await?
        .json()
        .await?;
    print!("{}", crate::client::instances_table(&status));
    println!();
    Ok(())
}

impl Processes {
    /// A one-member etcd with its data in `dir`, listening on loopback.
    fn start_etcd(&mut self, dir: &Path, client: u16, peer: u16) -> anyhow::Result<()> {
        let log = std::fs::File::create(dir.join("etcd.log")).context("cannot create etcd.log")?;
        let child = Command::new("etcd")
            .args(["--name", "demo", "--data-dir"])
            .arg(dir.join("etcd"))
            .args([
                "--listen-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--advertise-client-urls",
                &format!("http://127.0.0.1:{client}"),
                "--listen-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
                "--initial-cluster",
                &format!("demo=http://127.0.0.1:{peer}"),
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("cannot start etcd")?;
        self.children.push(("etcd".to_string(), child));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", client)).is_err() {
            if Instant::now() > deadline {
                bail!(
                    "etcd did not start (see {})",
                    dir.join("etcd.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}
