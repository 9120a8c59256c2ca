//! `GET /health`: every component's check, 200 `healthy` or 503 `degraded` (seed 001); the store
//! is `ok` or `unreachable`, with the reason in `store_error`.
//! `GET /ready`: 200 once every monitored origin has been checked. The store is not asked:
//! serving needs none of it, so an etcd outage must not take every instance out of a VIP's or
//! an orchestrator's rotation.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lifeline_model::{PoolState, Timestamp};
use serde_json::{Value, json};

use crate::server::AdminState;

/// A controller whose loop has not run for this long is stuck.
const CONTROLLER_STALL: Duration = Duration::from_secs(5);

pub(super) async fn health(State(state): State<AdminState>) -> (StatusCode, Json<Value>) {
    let now = Timestamp::now();
    let (store, store_error) = match state.store.ping().await {
        Ok(()) => ("ok", None),
        Err(error) => {
            tracing::warn!(%error, "state store check failed");
            ("unreachable", Some(error.to_string()))
        }
    };
    let since_beat = now.since(state.controller.heartbeat.last());
    let controller = if since_beat < CONTROLLER_STALL {
        "ok".to_string()
    } else {
        format!("stalled for {}s", since_beat.as_secs())
    };
    let snapshot = state.controller.status.load();
    let pools: BTreeMap<_, _> = snapshot
        .pools
        .iter()
        .map(|pool| (pool.name.to_string(), pool.state.as_str()))
        .collect();
    let clusters: BTreeMap<_, _> = state
        .clusters
        .load()
        .iter()
        .map(|c| (c.name.to_string(), c.status.load().state.as_str()))
        .collect();
    let healthy = store == "ok"
        && controller == "ok"
        && snapshot.pools.iter().all(|p| p.state == PoolState::Healthy)
        && clusters.values().all(|s| *s == "healthy");
    let (code, status) = if healthy {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "degraded")
    };
    let mut body = json!({
        "status": status,
        "timestamp": now,
        "checks": { "store": store, "controller": controller, "pools": pools, "clusters": clusters },
    });
    if let Some(reason) = store_error {
        body["checks"]["store_error"] = reason.into();
    }
    (code, Json(body))
}

pub(super) async fn ready(State(state): State<AdminState>) -> (StatusCode, Json<Value>) {
    if state.controller.status.load().all_checked {
        return (StatusCode::OK, Json(json!({ "ready": true })));
    }
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "ready": false, "reason": "waiting for the first check of every origin" })),
    )
}
