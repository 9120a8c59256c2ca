//! The proxy's own answers, all JSON: 503 when no origin can serve or the proxy is short of
//! descriptors (with `Retry-After`), 502 and 504 when every attempt failed, 421/404 for a
//! request no load balancer claims, 400, 405 and 408 for requests the proxy cannot forward, 508
//! for one that came round through it.

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use lifeline_model::LoadBalancerName;
use serde_json::json;

use crate::admit::Refusal;
use crate::body::ResponseBody;
use crate::error::ErrorKind;
use crate::upload::ClientFault;

/// Seconds a client is asked to wait after a 503 (`Retry-After`).
pub const RETRY_AFTER_SECONDS: u32 = 5;

/// `{"error":"no healthy origin","load_balancer":NAME}`, made once per routing generation.
pub(crate) fn unavailable_body(load_balancer: &LoadBalancerName) -> Bytes {
    Bytes::from(
        json!({ "error": "no healthy origin", "load_balancer": load_balancer.as_str() })
            .to_string(),
    )
}

/// 503 with `Retry-After`.
pub(crate) fn unavailable(body: Bytes) -> Response<ResponseBody> {
    let mut response = json_response(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

/// 504 after a timeout, else 502, naming the last attempt's failure.
pub(crate) fn gateway_failure(
    load_balancer: &LoadBalancerName,
    kind: ErrorKind,
) -> Response<ResponseBody> {
    let status = gateway_status(kind);
    let error = match status {
        StatusCode::GATEWAY_TIMEOUT => "origin timed out",
        StatusCode::SERVICE_UNAVAILABLE => "the proxy is short of resources",
        _ => "bad gateway",
    };
    let body = json!({
        "error": error,
        "kind": kind.as_str(),
        "load_balancer": load_balancer.as_str(),
    });
    let mut response = json_response(status, Bytes::from(body.to_string()));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    }
    response
}

pub(crate) fn gateway_status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::Local => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Connect | ErrorKind::Protocol | ErrorKind::Status5xx => StatusCode::BAD_GATEWAY,
    }
}

/// No load balancer claims this `Host` on this listener (421), or the request has no `Host`
/// and no load balancer takes every host here (404).
pub(crate) fn unclaimed(host: Option<&str>) -> Response<ResponseBody> {
    match host {
        Some(host) => {
            let body = json!({ "error": "no load balancer for this host here", "host": host });
            json_response(
                StatusCode::MISDIRECTED_REQUEST,
                Bytes::from(body.to_string()),
            )
        }
        None => json_response(
            StatusCode::NOT_FOUND,
            Bytes::from_static(br#"{"error":"no load balancer here"}"#),
        ),
    }
}

/// The client's request body broke off (400) or came too slowly (408). The connection closes:
/// the rest of the body is not worth waiting for.
pub(crate) fn client_body_failure(fault: ClientFault) -> Response<ResponseBody> {
    let (status, body): (_, &'static [u8]) = match fault {
        ClientFault::Broken => (
            StatusCode::BAD_REQUEST,
            br#"{"error":"request body could not be read"}"#,
        ),
        ClientFault::TooSlow => (
            StatusCode::REQUEST_TIMEOUT,
            br#"{"error":"request body sent too slowly"}"#,
        ),
    };
    let mut response = json_response(status, Bytes::from_static(body));
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A request [`admit`](crate::admit) refused: 400, or 508 for a loop.
pub(crate) fn refused(refusal: Refusal) -> Response<ResponseBody> {
    let (status, body): (_, &'static [u8]) = match refusal {
        Refusal::TwoHosts => (
            StatusCode::BAD_REQUEST,
            br#"{"error":"more than one Host"}"#,
        ),
        Refusal::NoHost => (StatusCode::BAD_REQUEST, br#"{"error":"no Host"}"#),
        Refusal::InvalidHost => (StatusCode::BAD_REQUEST, br#"{"error":"invalid Host"}"#),
        Refusal::InvalidTarget => (
            StatusCode::BAD_REQUEST,
            br#"{"error":"invalid request target"}"#,
        ),
        Refusal::Loop => (
            StatusCode::LOOP_DETECTED,
            br#"{"error":"request loop: this proxy forwarded the request already"}"#,
        ),
    };
    json_response(status, Bytes::from_static(body))
}

/// `CONNECT` (forward-proxy tunnels) is not offered.
pub(crate) fn method_not_allowed() -> Response<ResponseBody> {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        Bytes::from_static(br#"{"error":"CONNECT is not supported"}"#),
    )
}

fn json_response(status: StatusCode, body: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::local(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
