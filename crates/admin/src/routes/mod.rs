//! The router: one module per resource.

mod events;
mod failover;
mod health;
mod metrics;
mod overrides;
mod reload;
mod scorecards;
mod status;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post, put};

use crate::auth::require_token;
use crate::error::ApiError;
use crate::server::AdminState;

/// The admin API's routes over `state`.
pub fn app(state: AdminState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/status", get(status::status))
        .route("/events", get(events::events))
        .route("/metrics", get(metrics::metrics))
        .route("/reload", post(reload::reload))
        .route("/scorecards", get(scorecards::scorecards))
        .route("/failover/status", get(failover::status))
        .route("/failover/health", get(failover::health))
        .route("/failover/metrics", get(failover::metrics))
        .route("/failover/history", get(failover::history))
        .route("/failover/trigger", post(failover::trigger))
        .route("/failover/switchover", post(failover::switchover))
        .route("/failover/check-health", post(failover::check_health))
        .route(
            "/load_balancers/{name}/force",
            put(overrides::force).delete(overrides::unforce),
        )
        .route(
            "/origins/{name}/drain",
            put(overrides::drain).delete(overrides::undrain),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such endpoint")
}

#[cfg(test)]
mod failover_tests;
#[cfg(test)]
mod tests;
