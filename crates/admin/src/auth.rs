//! Every request that changes something needs `Authorization: Bearer <token>`, the scheme in any
//! case and followed by one or more spaces, as RFC 9110 §11.4 allows.

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::server::AdminState;

/// Lets reads through; refuses a change without the configured token with 401, before any
/// handler runs, so nothing happens. Without a configured token every change is refused.
pub(crate) async fn require_token(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let topology = state.topology.load();
    let Some(expected) = topology.admin.token.as_ref() else {
        return unauthorized("changes are disabled: no admin token is configured");
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    match presented {
        Some(token) if constant_time_eq(token.as_bytes(), expected.expose().as_bytes()) => {
            next.run(request).await
        }
        Some(_) => unauthorized("invalid bearer token"),
        None => unauthorized("missing bearer token"),
    }
}

/// The token of `Bearer <token>` credentials: RFC 9110's `auth-scheme 1*SP token68`, where the
/// scheme is case-insensitive.
fn bearer_token(credentials: &str) -> Option<&str> {
    let (scheme, token) = credentials.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer"),
    );
    response
}

/// Compares without an early exit, so the time taken says nothing about how much matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::{bearer_token, constant_time_eq};

    #[test]
    fn the_scheme_is_case_insensitive_and_spaces_may_repeat() {
        for credentials in ["Bearer t0k", "bearer t0k", "BEARER t0k", "bEaReR   t0k"] {
            assert_eq!(bearer_token(credentials), Some("t0k"), "{credentials:?}");
        }
        for credentials in [
            "Bearer",
            "Bearer ",
            "Bearert0k",
            "Basic t0k",
            "Bearer\tt0k",
            "",
        ] {
            assert_eq!(bearer_token(credentials), None, "{credentials:?}");
        }
    }

    #[test]
    fn compares_whole_tokens() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
