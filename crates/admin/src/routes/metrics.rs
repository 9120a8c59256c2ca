//! `GET /metrics`: every registered metric in the OpenMetrics text format, which Prometheus reads.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::server::AdminState;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub(super) async fn metrics(State(state): State<AdminState>) -> Result<Response, ApiError> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, &state.registry).map_err(|error| {
        tracing::error!(%error, "could not encode metrics");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "could not encode metrics",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}
