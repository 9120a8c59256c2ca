//! Answers one request: `/health`, `/_control`, `/redirect` and the catch-all.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::behaviour::Behaviour;

/// One origin's name and current behaviour, shared by all its connections.
pub(crate) struct OriginState {
    name: String,
    served_by: HeaderValue,
    behaviour: ArcSwap<Behaviour>,
    /// Catch-all requests being answered now (`GET /_control` shows it), so that a test can
    /// wait until a request has arrived instead of sleeping.
    in_flight: AtomicUsize,
}

/// Counts one request in flight while it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

// === impl OriginState ===

impl OriginState {
    pub(crate) fn new(name: String, behaviour: Behaviour) -> Self {
        let served_by = HeaderValue::from_str(&name)
            .unwrap_or_else(|_| HeaderValue::from_static("unnamed-origin"));
        Self {
            name,
            served_by,
            behaviour: ArcSwap::from_pointee(behaviour),
            in_flight: AtomicUsize::new(0),
        }
    }

    /// Routes one request. Never fails: every problem is an HTTP answer.
    pub(crate) async fn handle(
        self: Arc<Self>,
        request: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let mut response = match (request.method(), request.uri().path()) {
            (&Method::POST, "/_control") => self.control(request.uri().query().unwrap_or("")),
            (&Method::GET, "/_control") => {
                let mut view = self.behaviour.load().to_value();
                view["in_flight"] = self.in_flight.load(Ordering::SeqCst).into();
                json_response(StatusCode::OK, view.to_string())
            }
            (_, "/health") => self.health(&request).await,
            (_, "/redirect") => {
                self.delay().await;
                let mut response = text_response(StatusCode::FOUND, "see /health\n".into());
                response
                    .headers_mut()
                    .insert(LOCATION, HeaderValue::from_static("/health"));
                response
            }
            _ => self.echo(request).await,
        };
        response
            .headers_mut()
            .insert("x-served-by", self.served_by.clone());
        Ok(response)
    }

    async fn health(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        let behaviour = self.behaviour.load_full();
        tokio::time::sleep(behaviour.delay).await;
        let status = StatusCode::from_u16(behaviour.status).unwrap_or(StatusCode::OK);
        match &behaviour.body {
            Some(body) => text_response(status, body.clone()),
            None => {
                let verdict = if behaviour.is_healthy() {
                    "healthy"
                } else {
                    "unhealthy"
                };
                let host = request
                    .headers()
                    .get(HOST)
                    .and_then(|host| host.to_str().ok())
                    .unwrap_or("");
                let body = json!({ "status": verdict, "origin": self.name, "host": host });
                json_response(status, body.to_string())
            }
        }
    }

    fn control(&self, query: &str) -> Response<Full<Bytes>> {
        let current = self.behaviour.load();
        match current.with_query(query) {
            Ok(next) => {
                let body = next.to_json();
                tracing::info!(origin = %self.name, behaviour = %body, "behaviour changed");
                self.behaviour.store(Arc::new(next));
                json_response(StatusCode::OK, body)
            }
            Err(message) => json_response(
                StatusCode::BAD_REQUEST,
                json!({ "error": message }).to_string(),
            ),
        }
    }

    /// The catch-all: reads and discards the request body, then names the origin.
    async fn echo(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let _counted = InFlight::new(&self.in_flight);
        self.delay().await;
        let mut body = request.into_body();
        while let Some(frame) = body.frame().await {
            if let Err(err) = frame {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    format!("bad request body: {err}\n"),
                );
            }
        }
        text_response(StatusCode::OK, format!("origin {}\n", self.name))
    }

    async fn delay(&self) {
        let delay = self.behaviour.load().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }
}

fn text_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, body, "text/plain; charset=utf-8")
}

fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, body, "application/json")
}

fn with_type(
    status: StatusCode,
    body: String,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
