//! One request's trip through its plan: an attempt on the first candidate, a hedge on the next
//! one when the first is slow, retries on the following ones when an attempt fails and a retry
//! is safe.
//!
//! Retry rules, as HAProxy's `retry-on conn-failure empty-response response-timeout` with
//! `redispatch`: only connection-level failures (connect error, timeout before the response
//! headers, broken or missing response) are retried, on the next candidate, at most `retries`
//! times. A 5xx answer counts against the origin but goes to the client as it is: the origin
//! processed the request, and replaying it elsewhere could do the work twice. A request is sent
//! again only if its method is idempotent (GET, HEAD, OPTIONS, TRACE, PUT, DELETE) or the failed
//! attempt provably never reached the origin (it could not connect), and only while its whole
//! body can still be sent.
//!
//! At most two attempts run at once (the first and its hedge); the first response headers win
//! and the other attempt is dropped, which cancels it.

use std::pin::{Pin, pin};
use std::time::{Duration, Instant};

use futures_util::future::{Fuse, FusedFuture, FutureExt, OptionFuture};
use http::header::{CONTENT_LENGTH, HOST};
use http::uri::{self, PathAndQuery};
use http::{HeaderMap, Method, Request, Response, Uri, Version};
use prometheus_client::metrics::gauge::Gauge;

use crate::body::{OriginBody, OutBody, RequestBody};
use crate::clients::Clients;
use crate::compiled::{LbHandles, OriginHandles};
use crate::error::ErrorKind;
use crate::h1;
use crate::passive::{Ejector, Failed};
use crate::route::{Candidate, InFlight};

/// How a load balancer treats one request.
#[derive(Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) try_timeout: Duration,
    pub(crate) retries: u32,
    /// Only for idempotent requests whose body is kept.
    pub(crate) hedge_after: Option<Duration>,
    pub(crate) idempotent: bool,
}

/// The parts of the client's request every attempt sends again.
pub(crate) struct Template {
    method: Method,
    /// The request target in origin form (`/path?query`), as HTTP/1.1 origins get it.
    path_and_query: PathAndQuery,
    headers: HeaderMap,
    /// Whether `headers` has `Host`; without, each attempt names its origin.
    has_host: bool,
    /// Whether the client sent `Content-Length`.
    has_length: bool,
    /// The client asked for a protocol upgrade.
    upgrade: bool,
}

/// Everything one request's attempts share.
pub(crate) struct Exchange<'a> {
    pub(crate) clients: &'a Clients,
    pub(crate) ejector: &'a Ejector,
    pub(crate) load_balancer: &'a LbHandles,
    pub(crate) candidates: &'a [&'a Candidate],
    pub(crate) template: Template,
    pub(crate) body: &'a RequestBody,
    pub(crate) policy: Policy,
    /// When the first attempt starts: the request's arrival when it had no body to read.
    pub(crate) first_attempt_at: Instant,
}

/// A candidate with the handles its attempt needs.
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) candidate: &'a Candidate,
    pub(crate) handles: &'a OriginHandles,
    /// Position in the plan.
    pub(crate) index: usize,
}

/// The response that won.
pub(crate) struct Answer<'a> {
    pub(crate) response: Response<OriginBody>,
    pub(crate) target: Target<'a>,
    pub(crate) attempt: AttemptGuard,
}

/// Every attempt failed (or none could start: `target` is `None`).
pub(crate) struct Failure<'a> {
    pub(crate) kind: ErrorKind,
    pub(crate) target: Option<Target<'a>>,
}

/// An attempt in flight, counted by the origin's live statistics and in-flight gauge until the
/// response body ends.
pub(crate) struct AttemptGuard {
    _in_flight: InFlight,
    gauge: Gauge,
}

struct Outcome<'a> {
    target: Target<'a>,
    guard: AttemptGuard,
    latency: Duration,
    result: Result<Response<OriginBody>, ErrorKind>,
}

// === impl Template ===

impl Template {
    pub(crate) fn new(method: Method, uri: &Uri, headers: HeaderMap, upgrade: bool) -> Self {
        let path_and_query = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        Self {
            method,
            path_and_query,
            has_host: headers.contains_key(HOST),
            has_length: headers.contains_key(CONTENT_LENGTH),
            headers,
            upgrade,
        }
    }

    /// The request as a plain-HTTP origin gets it.
    fn outgoing<'t>(&'t self, handles: &'t OriginHandles, idempotent: bool) -> h1::Outgoing<'t> {
        h1::Outgoing {
            method: &self.method,
            target: self.path_and_query.as_str(),
            headers: &self.headers,
            host: (!self.has_host).then_some(&handles.host),
            has_length: self.has_length,
            upgrade: self.upgrade,
            idempotent,
        }
    }

    /// The request as hyper-util's client sends it to an HTTPS origin: its URI absolute.
    fn request(&self, handles: &OriginHandles, body: OutBody) -> Request<OutBody> {
        let mut parts = uri::Parts::default();
        parts.scheme = Some(handles.scheme.clone());
        parts.authority = Some(handles.authority.clone());
        parts.path_and_query = Some(self.path_and_query.clone());
        let uri = Uri::from_parts(parts).expect("scheme, authority and path are all set");
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.version_mut() = Version::HTTP_11;
        let headers = request.headers_mut();
        *headers = self.headers.clone();
        if !self.has_host {
            headers.insert(HOST, handles.host.clone());
        }
        request
    }
}

// === impl Exchange ===

impl<'a> Exchange<'a> {
    pub(crate) async fn run(&self) -> Result<Answer<'a>, Failure<'a>> {
        let mut next = 0;
        let Some(first) = self.next_target(&mut next) else {
            return Err(Failure {
                kind: ErrorKind::Connect,
                target: None,
            });
        };
        let mut primary = pin!(self.attempt(first, self.first_attempt_at).fuse());
        let mut hedge = pin!(Fuse::terminated());
        // No timer at all when hedging is off; the branch below only runs while armed.
        let mut hedge_timer = pin!(OptionFuture::from(
            self.policy.hedge_after.map(tokio::time::sleep)
        ));
        let mut hedge_armed = self.policy.hedge_after.is_some();
        let mut retries_left = self.policy.retries;
        loop {
            let outcome = tokio::select! {
                outcome = &mut primary, if !primary.is_terminated() => outcome,
                outcome = &mut hedge, if !hedge.is_terminated() => outcome,
                _ = &mut hedge_timer, if hedge_armed => {
                    hedge_armed = false;
                    if let Some(target) = self.next_target(&mut next) {
                        self.load_balancer.metrics.hedges.inc();
                        hedge.set(self.attempt(target, Instant::now()).fuse());
                    }
                    continue;
                }
            };
            let failure = match self.settle(outcome) {
                Ok(answer) => return Ok(answer),
                Err(failure) => failure,
            };
            if !primary.is_terminated() || !hedge.is_terminated() {
                // The other attempt may still answer.
                continue;
            }
            if retries_left == 0 || !self.may_retry(failure.kind) {
                return Err(failure);
            }
            let Some(target) = self.next_target(&mut next) else {
                return Err(failure);
            };
            retries_left -= 1;
            self.load_balancer.metrics.retries.inc();
            primary.set(self.attempt(target, Instant::now()).fuse());
        }
    }

    /// The next candidate this load balancer has handles for.
    fn next_target(&self, next: &mut usize) -> Option<Target<'a>> {
        while let Some(candidate) = self.candidates.get(*next) {
            let index = *next;
            *next += 1;
            if let Some(handles) = self.load_balancer.origin(candidate.slot) {
                return Some(Target {
                    candidate,
                    handles,
                    index,
                });
            }
        }
        None
    }

    fn may_retry(&self, kind: ErrorKind) -> bool {
        (self.policy.idempotent || kind.never_sent()) && self.body.can_send()
    }

    /// Starts an attempt on `target`. Boxed, so that the exchange (and every future around it)
    /// stays small when it is moved.
    fn attempt<'s>(
        &'s self,
        target: Target<'a>,
        started: Instant,
    ) -> Pin<Box<impl Future<Output = Outcome<'a>> + use<'a, 's>>> {
        Box::pin(self.try_once(target, started))
    }

    /// One attempt, cut at `try_timeout` from `started`. The request future is made here, in the
    /// attempt's own state, rather than passed in: an argument would stay in the state beside
    /// the timeout that wraps it, doubling its size.
    async fn try_once(&self, target: Target<'a>, started: Instant) -> Outcome<'a> {
        let guard = AttemptGuard::begin(target);
        // `timeout_at` from the start already read, rather than `timeout`, which reads the clock.
        let try_timeout = self.policy.try_timeout;
        let deadline = tokio::time::Instant::from_std(started + try_timeout);
        let result = match self.body.upload() {
            None => tokio::time::timeout_at(deadline, self.send(target, started))
                .await
                .unwrap_or(Err(ErrorKind::Timeout)),
            // A streamed upload is the client's time as much as the origin's.
            Some(upload) => {
                Box::pin(upload.answer_within(try_timeout, deadline, self.send(target, started)))
                    .await
            }
        };
        Outcome {
            target,
            guard,
            latency: started.elapsed(),
            result,
        }
    }

    /// One try at the origin of `target`, up to its answer's head.
    async fn send(
        &self,
        target: Target<'a>,
        started: Instant,
    ) -> Result<Response<OriginBody>, ErrorKind> {
        let handles = target.handles;
        match &handles.pool {
            Some(pool) => {
                let outgoing = self.template.outgoing(handles, self.policy.idempotent);
                let response = h1::exchange(pool, &outgoing, self.body, started).await?;
                Ok(response.map(OriginBody::Plain))
            }
            None => {
                let request = self.template.request(handles, self.body.for_attempt());
                let response = self
                    .clients
                    .send_https(handles, &target.candidate.protocol, request)
                    .await?;
                Ok(response.map(OriginBody::Https))
            }
        }
    }

    /// Passive accounting of one finished attempt.
    fn settle(&self, outcome: Outcome<'a>) -> Result<Answer<'a>, Failure<'a>> {
        let Outcome {
            target,
            guard,
            latency,
            result,
        } = outcome;
        let try_timeout = self.policy.try_timeout;
        match result {
            Ok(response) => {
                let status = response.status();
                if status.is_server_error() {
                    let failed = Failed {
                        kind: ErrorKind::Status5xx,
                        status: Some(status),
                        try_timeout,
                    };
                    self.ejector.failed(target, failed);
                } else {
                    target.candidate.stats.record_success(latency);
                }
                Ok(Answer {
                    response,
                    target,
                    attempt: guard,
                })
            }
            Err(kind) => {
                // Only what the origin did counts against it: not a client that sent its body
                // too slowly or broke it off, nor the proxy's own shortage.
                if kind.blames_origin() && self.body.client_fault().is_none() {
                    let failed = Failed {
                        kind,
                        status: None,
                        try_timeout,
                    };
                    self.ejector.failed(target, failed);
                }
                Err(Failure {
                    kind,
                    target: Some(target),
                })
            }
        }
    }
}

// === impl AttemptGuard ===

impl AttemptGuard {
    fn begin(target: Target<'_>) -> Self {
        let gauge = target.handles.metrics.in_flight().clone();
        gauge.inc();
        Self {
            _in_flight: target.candidate.stats.begin(),
            gauge,
        }
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}
