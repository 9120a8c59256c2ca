//! Manual control (seed 000's FORCE_ORIGIN and the runbook):
//! `PUT /load_balancers/{name}/force` with `{"pool":"backup"}` or `{"origin":"a"}` pins a load
//! balancer, `DELETE` on the same path clears it; `PUT /origins/{name}/drain` stops new requests
//! to an origin, `DELETE` undoes it. Each is recorded as an event and survives a restart.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use lifeline_model::{ForceTarget, LoadBalancerName, OriginName, PoolName};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::server::AdminState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForceBody {
    pool: Option<String>,
    origin: Option<String>,
}

pub(super) async fn force(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    body: Result<Json<ForceBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let target = match (body.pool, body.origin) {
        (Some(pool), None) => ForceTarget::Pool(PoolName::new(pool)),
        (None, Some(origin)) => ForceTarget::Origin(OriginName::new(origin)),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `pool` and `origin`",
            ));
        }
    };
    state
        .controller
        .force(LoadBalancerName::new(name.as_str()), Some(target.clone()))
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "load_balancer": name, "forced": target })))
}

pub(super) async fn unforce(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .controller
        .force(LoadBalancerName::new(name.as_str()), None)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "load_balancer": name, "forced": null })))
}

pub(super) async fn drain(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_draining(state, name, true).await
}

pub(super) async fn undrain(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    set_draining(state, name, false).await
}

async fn set_draining(
    state: AdminState,
    name: String,
    draining: bool,
) -> Result<Json<Value>, ApiError> {
    state
        .controller
        .drain(OriginName::new(name.as_str()), draining)
        .await
        .map_err(ApiError::bad_request)?;
    Ok(Json(json!({ "origin": name, "draining": draining })))
}
