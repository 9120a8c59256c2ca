//! `POST /reload`: re-read the config file. A bad file keeps the running config and answers 400
//! with every problem found.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::server::{AdminCommand, AdminState, ReloadOutcome};

pub(super) async fn reload(State(state): State<AdminState>) -> Result<Json<Value>, ApiError> {
    let (reply, outcome) = oneshot::channel();
    state
        .commands
        .send(AdminCommand::Reload { reply })
        .await
        .map_err(|_| ApiError::unavailable("the daemon is shutting down"))?;
    match outcome
        .await
        .map_err(|_| ApiError::unavailable("the daemon is shutting down"))?
    {
        ReloadOutcome::Applied { summary } => {
            Ok(Json(json!({ "status": "reloaded", "summary": summary })))
        }
        ReloadOutcome::Rejected { errors } => Err(ApiError::bad_request(
            "config rejected; the running config stays in use",
        )
        .with_details(errors)),
    }
}
