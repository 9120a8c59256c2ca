//! `lifeline demo`: Lifeline at work in under a minute, on real local processes. It starts three
//! origins (a primary pool of two, a backup pool of one) and the daemon, sends a steady stream of
//! requests through the load balancer, kills the whole primary pool with SIGKILL, brings it back,
//! and prints what the client saw at each step. `--ha` shows several instances instead (see
//! [`ha`]).

mod ha;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::client::events_table;

/// Time between two client requests.
const REQUEST_EVERY: Duration = Duration::from_millis(10);

pub async fn run(several_instances: bool) -> ExitCode {
    let shown = if several_instances {
        ha::demo().await
    } else {
        demo().await
    };
    match shown {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

async fn demo() -> anyhow::Result<()> {
    let binary = std::env::current_exe().context("cannot find the lifeline binary")?;
    let dir = tempdir()?;
    let ports = Ports::pick()?;
    let mut processes = Processes::default();
    for (name, port) in ports.origins() {
        processes.start_origin(&binary, name, port)?;
    }
    let config = dir.join("demo.toml");
    std::fs::write(&config, ports.config()).context("cannot write the demo config")?;
    processes.start_daemon(&binary, "daemon", &config, &dir.join("daemon.log"))?;

    let admin = format!("http://127.0.0.1:{}", ports.admin);
    let proxy = format!("http://127.0.0.1:{}/", ports.load_balancer);
    println!(
        "Lifeline demo: load balancer http://127.0.0.1:{}, admin API {admin}",
        ports.load_balancer
    );
    println!("pools: primary = primary-a, primary-b; backup = backup-a (fallback)\n");
    wait_ready(&admin).await?;

    let tally = Tally::default();
    let client = tokio::spawn(client_loop(proxy, tally.clone()));

    step(&tally, "1. Everything healthy", Duration::from_secs(3)).await;

    println!("2. kill -9 primary-a and primary-b (the whole primary pool)");
    processes.kill("primary-a")?;
    processes.kill("primary-b")?;
    wait_for_active(&admin, "backup", Duration::from_secs(10)).await?;
    step(
        &tally,
        "   traffic moved to the backup pool",
        Duration::from_secs(2),
    )
    .await;

    println!("3. primary-a and primary-b come back");
    for (name, port) in ports.origins().into_iter().take(2) {
        processes.start_origin(&binary, name, port)?;
    }
    wait_for_active(&admin, "primary", Duration::from_secs(10)).await?;
    step(
        &tally,
        "   failback, traffic ramping up over slow_start (3s)",
        Duration::from_secs(4),
    )
    .await;

    client.abort();
    let totals = tally.take_all();
    println!(
        "What the client saw in all: {} requests, {} errors",
        totals.requests, totals.errors
    );
    println!("{}", totals.by_origin());

    let events = reqwest::get(format!("{admin}/events?limit=100"))
        .await?
        .json::<Value>()
        .await?;
    println!("The daemon's event log:");
    print!("{}", events_table(&events));
    processes.stop_daemon();
    if totals.errors > 0 {
        bail!("the client saw {} errors", totals.errors);
    }
    Ok(())
}

/// Runs the client for `duration`, then prints what it saw.
async fn step(tally: &Tally, title: &str, duration: Duration) {
    tally.take();
    tokio::time::sleep(duration).await;
    let seen = tally.take();
    println!(
        "{title}: {} requests, {} errors; {}\n",
        seen.requests,
        seen.errors,
        seen.by_origin()
    );
}

async fn client_loop(url: String, tally: Tally) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a plain HTTP client builds");
    loop {
        let started = Instant::now();
        let origin = match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => response
                .headers()
                .get("x-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            _ => None,
        };
        tally.add(origin);
        tokio::time::sleep(REQUEST_EVERY.saturating_sub(started.elapsed())).await;
    }
}

/// Requests and which origin answered them, since the last `take`.
#[derive(Clone, Default)]
struct Tally(Arc<Mutex<(Seen, Seen)>>);

#[derive(Clone, Default)]
struct Seen {
    requests: u64,
    errors: u64,
    origins: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&self, origin: Option<String>) {
        let mut guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (recent, all) = &mut *guard;
        for seen in [recent, all] {
            seen.requests += 1;
            match &origin {
                Some(origin) => *seen.origins.entry(origin.clone()).or_default() += 1,
                None => seen.errors += 1,
            }
        }
    }

    /// What was seen since the last call.
    fn take(&self) -> Seen {
        std::mem::take(
            &mut self
                .0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0,
        )
    }

    /// Everything seen.
    fn take_all(&self) -> Seen {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .1
            .clone()
    }
}

impl Seen {
    fn by_origin(&self) -> String {
        let parts: Vec<String> = self
            .origins
            .iter()
            .map(|(origin, n)| format!("{origin} {n}"))
            .collect();
        format!("answered by: {}", parts.join(", "))
    }
}

async fn wait_ready(admin: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(response) = reqwest::get(format!("{admin}/ready")).await
            && response.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the daemon did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the load balancer's active pool is `pool`, then prints the failover event.
async fn wait_for_active(admin: &str, pool: &str, deadline: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    loop {
        let status: Value = reqwest::get(format!("{admin}/status"))
            .await?
            .json()
            .await?;
        if status["load_balancers"][0]["active_pool"] == pool {
            let events: Value = reqwest::get(format!("{admin}/events?limit=20"))
                .await?
                .json()
                .await?;
            if let Some(failover) = events
                .as_array()
                .into_iter()
                .flatten()
                .rev()
                .find(|e| e["kind"] == "failover" && e["new"] == pool)
            {
                println!(
                    "   event: failover {} -> {}: {}",
                    failover["old"].as_str().unwrap_or("?"),
                    pool,
                    failover["reason"].as_str().unwrap_or("")
                );
            }
            return Ok(());
        }
        if start.elapsed() > deadline {
            bail!("the load balancer did not move to {pool}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The demo's loopback ports, picked free at start.
struct Ports {
    origins: [u16; 3],
    load_balancer: u16,
    admin: u16,
}

impl Ports {
    fn pick() -> anyhow::Result<Self> {
        let mut held = Vec::new();
        let mut next = || -> anyhow::Result<u16> {
            let listener = TcpListener::bind("127.0.0.1:0").context("cannot find a free port")?;
            let port = listener.local_addr()?.port();
            held.push(listener);
            Ok(port)
        };
        Ok(Self {
            origins: [next()?, next()?, next()?],
            load_balancer: next()?,
            admin: next()?,
        })
    }

    fn origins(&self) -> Vec<(&'static str, u16)> {
        vec![
            ("primary-a", self.origins[0]),
            ("primary-b", self.origins[1]),
            ("backup-a", self.origins[2]),
        ]
    }

    fn config(&self) -> String {
        format!(
            "[admin]\nlisten = \"127.0.0.1:{}\"\nstate_file = \"demo.redb\"\n\n{}",
            self.admin,
            http_sections(self.origins, self.load_balancer)
        )
    }
}

/// The monitor, the two pools of `origins` (primary-a, primary-b; backup-a) and the load
/// balancer on `lb`: what both demos serve.
fn http_sections(origins: [u16; 3], lb: u16) -> String {
    let [a, b, c] = origins;
    format!(
        r#"[[monitor]]
name = "web"
type = "http"
path = "/health"
expected_body = "healthy"
interval = "500ms"
timeout = "300ms"
retries = 2
rise = 2

[[pool]]
name = "primary"
monitor = "web"
origins = [
  {{ name = "primary-a", address = "127.0.0.1:{a}" }},
  {{ name = "primary-b", address = "127.0.0.1:{b}" }},
]

[[pool]]
name = "backup"
monitor = "web"
origins = [{{ name = "backup-a", address = "127.0.0.1:{c}" }}]

[[load_balancer]]
name = "demo"
listen = "127.0.0.1:{lb}"
default_pools = ["primary"]
fallback_pool = "backup"
retries = 2
try_timeout = "1s"
slow_start = "3s"
"#
    )
}

/// The child processes; every one is killed on drop.
#[derive(Default)]
struct Processes {
    children: Vec<(String, Child)>,
}

impl Processes {
    fn start_origin(&mut self, binary: &Path, name: &str, port: u16) -> anyhow::Result<()> {
        let child = Command::new(binary)
            .args([
                "origin",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--name",
                name,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start origin {name}"))?;
        self.children.push((name.to_string(), child));
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("origin {name} did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn start_daemon(
        &mut self,
        binary: &Path,
        name: &str,
        config: &Path,
        log: &Path,
    ) -> anyhow::Result<()> {
        let log = std::fs::File::create(log).context("cannot create the daemon log")?;
        let child = Command::new(binary)
            .args(["run", "-c"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    /// `kill -9`.
    fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let index = self
            .children
            .iter()
            .position(|(n, _)| n == name)
            .with_context(|| format!("{name} is not running"))?;
        let (_, mut child) = self.children.remove(index);
        child
            .kill()
            .with_context(|| format!("cannot kill {name}"))?;
        child
            .wait()
            .with_context(|| format!("cannot reap {name}"))?;
        Ok(())
    }

    fn stop_daemon(&mut self) {
        if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| n == "daemon") {
            // SIGTERM would be gentler, but the demo is over and its state is thrown away.
            if child.kill().is_ok() {
                child.wait().ok();
            }
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            if child.kill().is_ok() {
                child.wait().ok();
            }
        }
    }
}

/// A fresh directory for the demo's config, log and state, left behind for inspection.
fn tempdir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lifeline-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
