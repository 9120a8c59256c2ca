//! `GET /scorecards`: every scorecard's score, damped level and signals, as last evaluated.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::server::AdminState;

pub(super) async fn scorecards(State(state): State<AdminState>) -> impl IntoResponse {
    Json(serde_json::json!({ "scorecards": &*state.escalation.scorecards() }))
}
