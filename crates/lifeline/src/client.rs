//! Client commands: talk to a running daemon's admin API and print tables for people or the JSON
//! for scripts. Also `lifeline origin`, the small HTTP origin for trying configs out.

use std::process::ExitCode;

use anyhow::{Context, bail};
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{
    DrainArgs, EventsArgs, FailoverArgs, ForceArgs, OriginArgs, ReloadArgs, StatusArgs,
    SwitchoverArgs, TokenArgs,
};

pub async fn status(args: &StatusArgs) -> ExitCode {
    report(async {
        let status = get_json(&args.admin.admin, "/status").await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&status)?);
        } else {
            print!("{}", status_table(&status));
            if status["clusters"].as_array().is_some_and(|c| !c.is_empty()) {
                println!();
                print!("{}", clusters_table(&status));
            }
            if status["instances"]
                .as_array()
                .is_some_and(|i| !i.is_empty())
            {
                println!();
                print!("{}", instances_table(&status));
            }
        }
        Ok(())
    })
    .await
}

pub async fn events(args: &EventsArgs) -> ExitCode {
    report(async {
        let mut path = format!("/events?limit={}", args.limit);
        if let Some(since) = args.since {
            path.push_str(&format!("&since={since}"));
        }
        let events = get_json(&args.admin.admin, &path).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&events)?);
        } else {
            print!("{}", events_table(&events));
        }
        Ok(())
    })
    .await
}

pub async fn reload(args: &ReloadArgs) -> ExitCode {
    report(async {
        let body = change(
            &args.admin.admin,
            &args.token,
            Method::POST,
            "/reload",
            None,
        )
        .await?;
        println!("reloaded: {}", text(&body["summary"]));
        Ok(())
    })
    .await
}

pub async fn force(args: &ForceArgs) -> ExitCode {
    report(async {
        let path = format!("/load_balancers/{}/force", args.load_balancer);
        let (method, body, done) = match (&args.pool, &args.origin) {
            _ if args.clear => (Method::DELETE, None, "pin cleared".to_string()),
            (Some(pool), _) => (
                Method::PUT,
                Some(json!({ "pool": pool })),
                format!("pinned to pool {pool}"),
            ),
            (None, Some(origin)) => (
                Method::PUT,
                Some(json!({ "origin": origin })),
                format!("pinned to origin {origin}"),
            ),
            (None, None) => bail!("give a pool, --origin or --clear"),
        };
        change(&args.admin.admin, &args.token, method, &path, body).await?;
        println!("{}: {done}", args.load_balancer);
        Ok(())
    })
    .await
}

pub async fn failover(args: &FailoverArgs) -> ExitCode {
    report(async {
        let body = json!({ "cluster": args.cluster, "target": args.to, "force": args.force });
        promote(
            &args.admin.admin,
            &args.token,
            "/failover/trigger",
            body,
            &args.cluster,
        )
        .await
    })
    .await
}

pub async fn switchover(args: &SwitchoverArgs) -> ExitCode {
    report(async {
        let body = json!({ "cluster": args.cluster, "target": args.to });
        promote(
            &args.admin.admin,
            &args.token,
            "/failover/switchover",
            body,
            &args.cluster,
        )
        .await
    })
    .await
}

/// Starts a failover or switchover and follows it to its end: the new primary, or the reason
/// it stopped.
async fn promote(
    admin: &str,
    token: &TokenArgs,
    path: &str,
    body: Value,
    cluster: &str,
) -> anyhow::Result<()> {
    let status_path = format!("/failover/status?cluster={cluster}");
    let epoch = |status: &Value| status["clusters"][0]["epoch"].as_u64().unwrap_or(0);
    let before = epoch(&get_json(admin, &status_path).await?);
    let last_seq = get_json(admin, "/events?limit=1").await?[0]["seq"]
        .as_u64()
        .unwrap_or(0);
    let started = change(admin, token, Method::POST, path, Some(body)).await?;
    println!("{cluster}: {}", text(&started["status"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let status = get_json(admin, &status_path).await?;
        let current = &status["clusters"][0];
        if epoch(&status) > before {
            println!(
                "{cluster}: {} is primary (epoch {}), state {}",
                text(&current["primary"]),
                current["epoch"],
                text(&current["state"])
            );
            return Ok(());
        }
        if current["state"] != "failover_in_progress" {
            let events = get_json(admin, &format!("/events?since={last_seq}&limit=1000")).await?;
            let stopped = events.as_array().into_iter().flatten().find(|e| {
                e["subject"]
                    .as_str()
                    .is_some_and(|s| s == cluster || s.starts_with(&format!("{cluster}/")))
                    && matches!(
                        e["kind"].as_str(),
                        Some("action_failed" | "failover_refused")
                    )
            });
            if let Some(event) = stopped {
                bail!("{}", text(&event["reason"]));
            }
        }
        if std::time::Instant::now() > deadline {
            bail!("not done after 60s; see `lifeline events`");
        }
    }
}

pub async fn drain(args: &DrainArgs, draining: bool) -> ExitCode {
    report(async {
        let path = format!("/origins/{}/drain", args.origin);
        let method = if draining {
            Method::PUT
        } else {
            Method::DELETE
        };
        change(&args.admin.admin, &args.token, method, &path, None).await?;
        let state = if draining {
            "draining: no new requests"
        } else {
            "takes requests again"
        };
        println!("{}: {state}", args.origin);
        Ok(())
    })
    .await
}

/// Sends a change to the admin API with the token; an error answer becomes an error with every
/// line the API gave.
async fn change(
    admin: &str,
    token: &TokenArgs,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<Value> {
    let mut request = reqwest::Client::new().request(method, url(admin, path));
    if let Some(token) = &token.token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the admin API at {admin}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the admin API answered no JSON")?;
    if !status.is_success() {
        let mut message = format!("{status}: {}", text(&body["error"]));
        for line in body["errors"].as_array().into_iter().flatten() {
            message.push_str(&format!("\n  {}", text(line)));
        }
        bail!(message);
    }
    Ok(body)
}

pub async fn origin(args: &OriginArgs) -> ExitCode {
    report(async {
        if args.count <= 1 {
            let listener = bind(args.listen).await?;
            tracing::info!(listen = %listener.local_addr()?, name = %args.name, "origin serving");
            lifeline_origin::serve(listener, args.name.clone(), shutdown_signal()).await?;
            return Ok(());
        }
        let mut listeners = Vec::with_capacity(usize::from(args.count));
        for offset in 0..args.count {
            let port = args
                .listen
                .port()
                .checked_add(offset)
                .context("--count runs past port 65535")?;
            listeners.push(bind(std::net::SocketAddr::new(args.listen.ip(), port)).await?);
        }
        tracing::info!(first = %args.listen, count = args.count, "origins serving");
        lifeline_origin::serve_many(listeners, &args.name, shutdown_signal()).await?;
        Ok(())
    })
    .await
}

async fn bind(address: std::net::SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; stop with Ctrl-C");
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::warn!(%error, "cannot watch Ctrl-C either");
            }
        }
    }
}

async fn report(work: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    match work.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn url(admin: &str, path: &str) -> String {
    format!("{}{path}", admin.trim_end_matches('/'))
}

async fn get_json(admin: &str, path: &str) -> anyhow::Result<Value> {
    let response = reqwest::get(url(admin, path))
        .await
        .with_context(|| format!("cannot reach the admin API at {admin}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the admin API answered no JSON")?;
    if !status.is_success() {
        bail!("{status}: {}", text(&body["error"]));
    }
    Ok(body)
}

/// A JSON value as plain text: strings without quotes, null as `-`.
fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_table(status: &Value) -> String {
    let mut rows = vec![vec![
        "POOL".to_string(),
        "STATE".into(),
        "ORIGIN".into(),
        "ADDRESS".into(),
        "HEALTH".into(),
        "RESPONSE".into(),
        "FAILURES".into(),
        "DOWN SINCE".into(),
        "LAST ERROR".into(),
    ]];
    for pool in status["pools"].as_array().into_iter().flatten() {
        let state = format!(
            "{} {}/{}",
            text(&pool["state"]),
            pool["healthy_origins"],
            pool["origins"].as_array().map_or(0, Vec::len)
        );
        for origin in pool["origins"].as_array().into_iter().flatten() {
            let health = if origin["enabled"] == Value::Bool(false) {
                "disabled".to_string()
            } else {
                text(&origin["health"])
            };
            let response = origin["response_time"]
                .as_f64()
                .map_or("-".to_string(), |ms| format!("{ms:.1}ms"));
            rows.push(vec![
                text(&pool["name"]),
                state.clone(),
                text(&origin["name"]),
                text(&origin["address"]),
                health,
                response,
                text(&origin["consecutive_failures"]),
                text(&origin["down_since"]),
                text(&origin["last_error"]),
            ]);
        }
    }
    render(&rows)
}

fn clusters_table(status: &Value) -> String {
    let mut rows = vec![vec![
        "CLUSTER".to_string(),
        "STATE".into(),
        "NODE".into(),
        "ROLE".into(),
        "HEALTHY".into(),
        "TIMELINE".into(),
        "POSITION".into(),
        "LAG".into(),
        "FAILURES".into(),
        "LAST ERROR".into(),
    ]];
    for cluster in status["clusters"].as_array().into_iter().flatten() {
        for node in cluster["nodes"].as_array().into_iter().flatten() {
            rows.push(vec![
                text(&cluster["name"]),
                text(&cluster["state"]),
                text(&node["name"]),
                text(&node["role"]),
                text(&node["healthy"]),
                text(&node["timeline"]),
                text(&node["wal_lsn"]),
                node["lag_bytes"]
                    .as_u64()
                    .map_or("-".to_string(), |b| format!("{b}B")),
                text(&node["failure_count"]),
                text(&node["last_error"]),
            ]);
        }
    }
    render(&rows)
}

/// The Lifeline instances sharing the store, one row each.
pub(crate) fn instances_table(status: &Value) -> String {
    let mut rows = vec![vec![
        "INSTANCE".to_string(),
        "ROLE".into(),
        "FENCING TOKEN".into(),
        "STORE".into(),
        "LAST SEEN".into(),
    ]];
    for instance in status["instances"].as_array().into_iter().flatten() {
        let store = match instance["store_reachable"].as_bool() {
            Some(true) => "reachable",
            Some(false) => "unreachable",
            None => "-",
        };
        rows.push(vec![
            text(&instance["name"]),
            text(&instance["role"]),
            text(&instance["fencing_token"]),
            store.to_string(),
            text(&instance["last_seen"]),
        ]);
    }
    render(&rows)
}

pub(crate) fn events_table(events: &Value) -> String {
    let mut rows = vec![vec![
        "SEQ".to_string(),
        "TIME".into(),
        "KIND".into(),
        "SUBJECT".into(),
        "CHANGE".into(),
        "REASON".into(),
    ]];
    for event in events.as_array().into_iter().flatten() {
        let change = match (&event["old"], &event["new"]) {
            (Value::Null, Value::Null) => "-".to_string(),
            (old, new) => format!("{} -> {}", text(old), text(new)),
        };
        rows.push(vec![
            text(&event["seq"]),
            text(&event["at"]),
            text(&event["kind"]),
            text(&event["subject"]),
            change,
            text(&event["reason"]),
        ]);
    }
    render(&rows)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn render(rows: &[Vec<String>]) -> String {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let last = row.len() - 1;
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn status_table_has_a_row_per_origin() {
        let status = json!({"pools": [{"name": "web", "state": "degraded", "healthy_origins": 1, "origins": [
            {"name": "a", "address": "127.0.0.1:1", "enabled": true, "health": "healthy", "response_time": 1.25, "consecutive_failures": 0, "down_since": null, "last_error": null},
            {"name": "b", "address": "127.0.0.1:2", "enabled": true, "health": "unhealthy", "response_time": 2000.0, "consecutive_failures": 3, "down_since": "2026-11-23T00:00:00.000Z", "last_error": "timeout: no answer"}
        ]}]});
        let table = status_table(&status);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("POOL  STATE"));
        assert!(lines[1].contains("web   degraded 1/2  a"), "{table}");
        assert!(
            lines[1].contains("1.3ms") || lines[1].contains("1.2ms"),
            "{table}"
        );
        assert!(lines[2].ends_with("timeout: no answer"), "{table}");
    }

    #[test]
    fn instances_table_has_a_row_per_instance() {
        let status = json!({"instances": [
            {"name": "lb-1", "role": "leader", "fencing_token": 7, "store_reachable": true, "last_seen": "2026-11-23T00:00:00.000Z"},
            {"name": "lb-2", "role": "follower", "fencing_token": 7, "store_reachable": false, "last_seen": "2026-11-23T00:00:01.000Z"}
        ]});
        let table = instances_table(&status);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("INSTANCE  ROLE"), "{table}");
        assert!(
            lines[1].starts_with("lb-1      leader    7              reachable"),
            "{table}"
        );
        assert!(lines[2].contains("unreachable"), "{table}");
    }

    #[test]
    fn events_table_shows_transitions() {
        let events = json!([{"seq": 7, "at": "2026-11-23T00:00:00.000Z", "kind": "origin_down", "subject": "a", "old": "healthy", "new": "unhealthy", "reason": "2 consecutive failed checks"}]);
        let table = events_table(&events);
        assert!(
            table.lines().nth(1).unwrap().contains(
                "origin_down  a        healthy -> unhealthy  2 consecutive failed checks"
            ),
            "{table}"
        );
    }
}
