//! One error type for every handler, turned into a JSON response in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answer: a status and a one-line message that never contains a secret.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    details: Vec<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Extra lines, such as every problem found in a config file.
    pub fn with_details(mut self, details: Vec<String>) -> Self {
        self.details = details;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = if self.details.is_empty() {
            json!({ "error": self.message })
        } else {
            json!({ "error": self.message, "errors": self.details })
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<lifeline_store::StoreError> for ApiError {
    fn from(error: lifeline_store::StoreError) -> Self {
        tracing::error!(%error, "state store error in admin API");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "state store error")
    }
}
