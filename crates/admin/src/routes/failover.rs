//! Seed 004's REST API: `GET /failover/status`, `/failover/health`, `/failover/metrics`,
//! `/failover/history`; `POST /failover/trigger`, `/failover/switchover`, `/failover/check-health`.
//! Every GET takes an optional `?cluster=NAME`.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use lifeline_control::cluster::{ClusterHandle, OperationError};
use lifeline_model::NodeName;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::server::AdminState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterQuery {
    cluster: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TriggerBody {
    cluster: String,
    target: Option<String>,
    #[serde(default)]
    force: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckBody {
    cluster: Option<String>,
}

/// `{"clusters": [...]}` with `view` of each cluster the query selects (all, or `?cluster=`).
fn per_cluster(
    state: &AdminState,
    q: Result<Query<ClusterQuery>, QueryRejection>,
    view: impl Fn(&ClusterHandle) -> Value,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let clusters: Vec<Value> = selected(state, q.cluster.as_deref())?
        .iter()
        .map(view)
        .collect();
    Ok(Json(json!({ "clusters": clusters })))
}

/// The clusters running now (a reload may replace them), all or the one named.
fn selected(state: &AdminState, name: Option<&str>) -> Result<Vec<ClusterHandle>, ApiError> {
    let clusters = state.clusters.load();
    match name {
        None => Ok(clusters.to_vec()),
        Some(name) => clusters
            .iter()
            .find(|c| c.name.as_str() == name)
            .map(|c| vec![c.clone()])
            .ok_or_else(|| OperationError::UnknownCluster(name.to_string()).into()),
    }
}

fn query(query: Result<Query<ClusterQuery>, QueryRejection>) -> Result<ClusterQuery, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))
}

pub(super) async fn status(
    State(state): State<AdminState>,
    q: Result<Query<ClusterQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    per_cluster(&state, q, |c| {
        serde_json::to_value(&*c.status.load_full()).unwrap_or(Value::Null)
    })
}

pub(super) async fn health(
    State(state): State<AdminState>,
    q: Result<Query<ClusterQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    per_cluster(&state, q, |c| {
        let status = c.status.load();
        let node = |n: &lifeline_control::cluster::NodeStatus| {
            json!({
                "name": n.name, "role": n.role, "healthy": n.healthy,
                "lastHealthCheck": n.last_health_check, "failureCount": n.failure_count,
                "responseTime": n.response_time, "downSince": n.down_since,
                "promotionEligible": n.promotion_eligible,
            })
        };
        let preflight = state.preflight.load();
        let preflight = preflight.get(&c.name);
        json!({
            "cluster": status.name,
            "state": status.state,
            "primary": status.nodes.iter().find(|n| n.role == "primary").map(node),
            "standbys": status.nodes.iter().filter(|n| n.role != "primary").map(node).collect::<Vec<_>>(),
            "findings": preflight.map_or(&[][..], |p| &p.findings[..]),
            "findingsCheckedAt": preflight.map(|p| p.checked_at),
        })
    })
}

pub(super) async fn metrics(
    State(state): State<AdminState>,
    q: Result<Query<ClusterQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    per_cluster(&state, q, |c| {
        let status = c.status.load();
        json!({
            "cluster": status.name,
            "state": status.state,
            "failoverCount": status.failover_count,
            "lastFailoverTime": status.last_failover_time,
            "primaryHealthy": status.nodes.iter().any(|n| n.role == "primary" && n.healthy),
            "healthyStandbys": status.nodes.iter().filter(|n| n.role == "standby" && n.healthy).count(),
            "healthCheckFailures": status.nodes.iter().map(|n| n.failure_count).sum::<u32>(),
        })
    })
}

/// The cluster's events, newest last.
pub(super) async fn history(
    State(state): State<AdminState>,
    q: Result<Query<ClusterQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let names: Vec<String> = selected(&state, q.cluster.as_deref())?
        .iter()
        .map(|c| c.name.to_string())
        .collect();
    let limit = q.limit.unwrap_or(100).clamp(1, 10_000);
    let events = state.store.latest_events(10_000).await?;
    let mine: Vec<_> = events
        .into_iter()
        .filter(|e| {
            names
                .iter()
                .any(|n| e.event.subject == *n || e.event.subject.starts_with(&format!("{n}/")))
        })
        .collect();
    let skip = mine.len().saturating_sub(limit);
    Ok(Json(json!({ "events": mine[skip..] })))
}

pub(super) async fn trigger(
    State(state): State<AdminState>,
    body: Result<Json<TriggerBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let cluster = selected(&state, Some(&body.cluster))?.remove(0);
    let started = cluster
        .failover(body.target.map(|t| NodeName::new(t.as_str())), body.force)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "cluster": body.cluster, "status": started })),
    ))
}

pub(super) async fn switchover(
    State(state): State<AdminState>,
    body: Result<Json<TriggerBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    if body.force {
        return Err(ApiError::bad_request(
            "a switchover cannot be forced; use /failover/trigger",
        ));
    }
    let cluster = selected(&state, Some(&body.cluster))?.remove(0);
    let started = cluster
        .switchover(body.target.map(|t| NodeName::new(t.as_str())))
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "cluster": body.cluster, "status": started })),
    ))
}

pub(super) async fn check_health(
    State(state): State<AdminState>,
    body: Option<Json<CheckBody>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = body.and_then(|Json(b)| b.cluster);
    let clusters = selected(&state, name.as_deref())?;
    for cluster in &clusters {
        cluster.check_now();
    }
    let names: Vec<String> = clusters.iter().map(|c| c.name.to_string()).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "checking": names }))))
}
