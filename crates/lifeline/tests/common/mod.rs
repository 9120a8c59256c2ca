//! Shared by the integration tests: the binary under test and config builders.

#![allow(dead_code)] // each test file uses a different part

pub mod ha;
pub mod pg;
pub mod redis;

use std::path::Path;
use std::time::Duration;

use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::origin::OriginProcess;
use lifeline_testkit::wait;

pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_lifeline"))
}

/// Check interval of the test monitors; `retries` and `rise` are 2.
pub const INTERVAL: Duration = Duration::from_millis(200);
pub const TIMEOUT: Duration = Duration::from_millis(150);

/// `origins` as lines of a TOML `origins = [...]` array.
fn origin_entries(origins: &[&OriginProcess]) -> String {
    origins
        .iter()
        .map(|o| {
            format!(
                "  {{ name = \"{}\", address = \"{}\" }},",
                o.name,
                o.address()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A config with one http monitor and one pool of `origins`, `{admin}` and `{token}` left for
/// the daemon harness to fill in.
pub fn http_config(origins: &[&OriginProcess], minimum_origins: usize) -> String {
    let origins = origin_entries(origins);
    format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[[monitor]]
name = "web"
type = "http"
path = "/health"
interval = "200ms"
timeout = "150ms"
retries = 2
rise = 2
expected_codes = "2xx"
expected_body = "healthy"
headers = {{ Host = "api.example.test" }}

[[pool]]
name = "primary"
monitor = "web"
minimum_origins = {minimum_origins}
origins = [
{}
]
"#,
        origins
    )
}

/// Waits until an origin's health in `GET /status` is `health`; returns how long it took.
pub async fn wait_health(
    daemon: &Daemon,
    origin: &str,
    health: &str,
    deadline: Duration,
) -> Duration {
    let (_, took) = wait::until(&format!("{origin} to be {health}"), deadline, || async {
        (daemon.origin_health(origin).await == health).then_some(())
    })
    .await;
    took
}

/// The longest a health change may take: `retries` checks at `INTERVAL` apart, the last one
/// cut at `TIMEOUT`, plus a second for a noisy machine.
pub fn change_deadline() -> Duration {
    INTERVAL * 2 + TIMEOUT + Duration::from_secs(1)
}

/// Events of the daemon with this kind and subject.
/// The daemon's `/metrics`, as text.
pub async fn metrics_text(daemon: &Daemon) -> String {
    lifeline_testkit::http::client()
        .get(format!("{}/metrics", daemon.admin_url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

pub async fn events_of(daemon: &Daemon, kind: &str, subject: &str) -> Vec<serde_json::Value> {
    let (_, events) = daemon.get("/events?limit=1000").await;
    events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == kind && e["subject"] == subject)
        .cloned()
        .collect()
}

/// Waits until the daemon has recorded `count` events of this kind and subject (events are
/// written just after the status changes), and returns them.
pub async fn wait_events(
    daemon: &Daemon,
    kind: &str,
    subject: &str,
    count: usize,
) -> Vec<serde_json::Value> {
    let what = format!("{count} {kind} events of {subject}");
    let (events, _) = wait::until(&what, Duration::from_secs(5), || async {
        let events = events_of(daemon, kind, subject).await;
        (events.len() >= count).then_some(events)
    })
    .await;
    events
}

/// A config with two pools behind one `failover` load balancer: `primary` (the first origins)
/// and `backup` (the last one, also the fallback). `{lb}` is replaced with the listen address.
pub fn lb_config(
    primary: &[&OriginProcess],
    backup: &OriginProcess,
    monitor_interval: &str,
    extra: &str,
) -> String {
    let origins = origin_entries(primary);
    format!(
        r#"[admin]
listen = "{{admin}}"
token = "{{token}}"

[[monitor]]
name = "web"
type = "http"
path = "/health"
interval = "{monitor_interval}"
timeout = "150ms"
retries = 2
rise = 2

[[pool]]
name = "primary"
monitor = "web"
origins = [
{primary}
]

[[pool]]
name = "backup"
monitor = "web"
origins = [{{ name = "{backup_name}", address = "{backup_address}" }}]

[[load_balancer]]
name = "api"
listen = "{{lb}}"
default_pools = ["primary"]
fallback_pool = "backup"
retries = 2
try_timeout = "1s"
{extra}
"#,
        primary = origins,
        backup_name = backup.name,
        backup_address = backup.address(),
    )
}

/// GET `url`: status and the `X-Origin` header.
pub async fn get_origin(url: &str) -> (u16, Option<String>) {
    match lifeline_testkit::http::client().get(url).send().await {
        Ok(response) => (
            response.status().as_u16(),
            response
                .headers()
                .get("x-origin")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        ),
        Err(_) => (0, None),
    }
}

/// The `errors` of a refused reload's answer.
pub fn reload_errors(body: &serde_json::Value) -> Vec<&str> {
    body["errors"]
        .as_array()
        .expect("a refused reload lists its errors")
        .iter()
        .map(|e| e.as_str().expect("each error is a string"))
        .collect()
}

/// Waits until the daemon lists itself in `GET /status` with `role` (leader or follower; the
/// campaign runs beside serving), and returns its entry.
pub async fn wait_role(daemon: &Daemon, role: &str, deadline: Duration) -> serde_json::Value {
    let (this, _) = wait::until(&format!("this instance {role}"), deadline, || async {
        let (_, status) = daemon.get("/status").await;
        let this = status["instances"][0].clone();
        (this["role"] == role).then_some(this)
    })
    .await;
    this
}
