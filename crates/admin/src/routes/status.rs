//! `GET /status`: every pool and origin with its health fields, as the controller last published,
//! the clusters, the Lifeline instances sharing the store, and the scorecards.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::server::AdminState;

/// Pools, origins and load balancers from the controller, the clusters and the instances.
pub(super) async fn status(State(state): State<AdminState>) -> impl IntoResponse {
    let mut status =
        serde_json::to_value(&*state.controller.status.load_full()).unwrap_or_default();
    let clusters: Vec<serde_json::Value> = state
        .clusters
        .load()
        .iter()
        .map(|c| serde_json::to_value(&*c.status.load_full()).unwrap_or_default())
        .collect();
    status["clusters"] = clusters.into();
    status["instances"] = serde_json::to_value(&*state.instances.load_full()).unwrap_or_default();
    status["scorecards"] =
        serde_json::to_value(&*state.escalation.scorecards()).unwrap_or_default();
    Json(status)
}
