//! `GET /events?since=SEQ&limit=N`: the event log, oldest first.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use lifeline_model::Event;
use serde::Deserialize;

use crate::error::ApiError;
use crate::server::AdminState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    /// Only events with a larger sequence number. Without it, the newest `limit` events.
    since: Option<u64>,
    limit: Option<usize>,
}

pub(super) async fn events(
    State(state): State<AdminState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<Vec<Event>>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let events = match query.since {
        Some(since) => state.store.events_since(since, limit).await?,
        None => state.store.latest_events(limit).await?,
    };
    Ok(Json(events))
}
