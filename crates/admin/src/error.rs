//! One error type for every handler, turned into a JSON response in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lifeline_control::cluster::OperationError;
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

/// A failover or switchover that did not start: a conflict with the cluster's state is 409, a
/// cluster or node that does not exist 404, a stopped cluster loop 503.
impl From<OperationError> for ApiError {
    fn from(error: OperationError) -> Self {
        let status = match &error {
            OperationError::InProgress | OperationError::Refused(_) => StatusCode::CONFLICT,
            OperationError::UnknownCluster(_) | OperationError::UnknownNode { .. } => {
                StatusCode::NOT_FOUND
            }
            OperationError::Stopped(_) | OperationError::NotLeader => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        Self::new(status, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use lifeline_model::{ClusterName, NodeName};

    use super::*;

    #[test]
    fn operation_errors_map_to_their_status() {
        let cluster = ClusterName::new("main");
        let cases = [
            (OperationError::InProgress, StatusCode::CONFLICT),
            (
                OperationError::Refused("no healthy standby may be promoted".into()),
                StatusCode::CONFLICT,
            ),
            (
                OperationError::UnknownCluster("other".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                OperationError::UnknownNode {
                    cluster: cluster.clone(),
                    node: NodeName::new("pg9"),
                },
                StatusCode::NOT_FOUND,
            ),
            (
                OperationError::Stopped(cluster),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (OperationError::NotLeader, StatusCode::SERVICE_UNAVAILABLE),
        ];
        for (error, status) in cases {
            let message = error.to_string();
            let api = ApiError::from(error);
            assert_eq!(api.status, status, "{message}");
            assert_eq!(api.message, message);
        }
    }
}
