//! `GET /status`: every pool and origin with its health fields, as the controller last published.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;

use crate::server::AdminState;

pub(super) async fn status(State(state): State<AdminState>) -> impl IntoResponse {
    Json(state.controller.status.load_full())
}
