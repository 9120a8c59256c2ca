//! One proxied request from start to end: admit it, find its load balancer by listener and host, plan,
//! prepare the request for the origins, run the exchange, answer.

use std::time::Instant;

use http::header::HOST;
use http::{Method, Request, Response, StatusCode};
use hyper::body::{Body, Incoming};
use hyper::upgrade::OnUpgrade;
use lifeline_model::{LoadBalancer, SessionAffinity};

use crate::admit;
use crate::body::{Finish, OriginBody, RequestBody, ResponseBody};
use crate::conn::ConnInfo;
use crate::forward::{Answer, Exchange, Failure, Policy, Template};
use crate::headers::{self, X_ORIGIN};
use crate::respond;
use crate::route::{Plan, RequestFacts};
use crate::upgrade::{self, OriginUpgrade};

pub(crate) async fn handle(
    conn: &ConnInfo,
    mut request: Request<Incoming>,
) -> Response<ResponseBody> {
    let started = Instant::now();
    let compiled = conn.shared.current.load_full();
    let host_value = match admit::admit(&mut request, &compiled.via) {
        Ok(host) => host,
        Err(refusal) => return respond::refused(refusal),
    };
    let host = host_value.as_ref().and_then(|host| host.to_str().ok());
    let Some(router) = compiled.router.load_balancer(conn.local, host) else {
        return respond::unclaimed(host);
    };
    let definition = router.definition();
    let Some(handles) = compiled.load_balancer(router.index()) else {
        return respond::unclaimed(host);
    };
    let plan = {
        let headers = request.headers();
        let facts = RequestFacts {
            path: request.uri().path(),
            client: conn.client,
            region_header: definition
                .region_header
                .as_deref()
                .and_then(|name| headers.get(name))
                .and_then(|value| value.to_str().ok()),
            affinity_cookie: (definition.session_affinity != SessionAffinity::None)
                .then(|| headers::affinity_cookie(headers))
                .flatten(),
        };
        router.plan(&facts, compiled.clock.timestamp_at(started))
    };
    if plan.candidates.is_empty() {
        handles.metrics.no_origin.inc();
        return respond::unavailable(handles.unavailable_body.clone());
    }
    if request.method() == Method::CONNECT {
        return respond::method_not_allowed();
    }

    let upgrading = headers::is_upgrade(request.version(), request.headers());
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut request));
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    if let Some(host) = &host_value
        && !headers.contains_key(HOST)
    {
        headers.insert(HOST, host.clone());
    }
    headers::strip_hop_by_hop(&mut headers, upgrading);
    // Room for the forwarding headers at once, rather than growing the map for each.
    headers.reserve(4);
    conn.forwarding
        .apply(&mut headers, host, compiled.via.element(parts.version));
    let body_to_read = !body.is_end_stream();
    let body = match RequestBody::read(body, compiled.proxy.client_body_timeout).await {
        Ok(body) => body,
        Err(err) => {
            tracing::debug!(client = %conn.client, error = %err, "cannot read the request body");
            return respond::client_body_failure(err.fault());
        }
    };
    let idempotent = is_idempotent(&parts.method);
    let policy = Policy {
        try_timeout: definition.try_timeout,
        retries: definition.retries,
        hedge_after: definition
            .hedge_after
            .filter(|_| idempotent && body.is_kept() && !upgrading),
        idempotent,
    };
    let exchange = Exchange {
        clients: &conn.shared.clients,
        ejector: &conn.shared.ejector,
        load_balancer: handles,
        candidates: &plan.candidates,
        template: Template::new(parts.method, &parts.uri, headers, upgrading),
        body: &body,
        policy,
        // Reading a body takes the client's time, which is no attempt's.
        first_attempt_at: if body_to_read {
            Instant::now()
        } else {
            started
        },
    };
    match exchange.run().await {
        Ok(answer) => {
            let upgrade = client_upgrade.map(|client| (client, conn));
            respond_with(answer, &plan, definition, upgrade, started)
        }
        Err(failure) => match body.client_fault() {
            Some(fault) => {
                tracing::debug!(client = %conn.client, kind = failure.kind.as_str(), ?fault, "the client's request body failed");
                respond::client_body_failure(fault)
            }
            None => gateway_failure(&failure, definition, started),
        },
    }
}

/// The origin's answer, with hop-by-hop headers dropped, `X-Origin` and the affinity cookie
/// added; a 101 to an upgrade request also starts the tunnel.
fn respond_with(
    answer: Answer<'_>,
    plan: &Plan<'_>,
    definition: &LoadBalancer,
    upgrade: Option<(OnUpgrade, &ConnInfo)>,
    started: Instant,
) -> Response<ResponseBody> {
    let Answer {
        mut response,
        target,
        attempt,
    } = answer;
    let switching = response.status() == StatusCode::SWITCHING_PROTOCOLS && upgrade.is_some();
    if let Some((client, conn)) = upgrade.filter(|_| switching) {
        let plain = match response.body_mut() {
            OriginBody::Plain(body) => Some(body.take_switched()),
            OriginBody::Https(_) => None,
        };
        let origin = match plain {
            Some(conn) => conn.map(OriginUpgrade::Plain),
            None => Some(OriginUpgrade::Https(hyper::upgrade::on(&mut response))),
        };
        if let Some(origin) = origin {
            upgrade::spawn(client, origin, conn.lifecycle.clone());
        }
    }
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, switching);
    parts
        .headers
        .insert(X_ORIGIN, target.handles.x_origin.clone());
    // The plan names its first pick; whoever answered is the one to stick to, also after a
    // failover away from the origin the cookie named.
    let affinity = definition.session_affinity != SessionAffinity::None;
    if plan.set_affinity_cookie.is_some() || (affinity && target.index != 0) {
        headers::set_affinity_cookie(&mut parts.headers, target.candidate.origin.as_str());
    }
    let metrics = &target.handles.metrics;
    metrics.answered(parts.status);
    let finish = Finish::new(attempt, metrics.duration().clone(), started);
    Response::from_parts(
        parts,
        ResponseBody::Origin {
            body,
            _finish: finish,
        },
    )
}

fn gateway_failure(
    failure: &Failure<'_>,
    definition: &LoadBalancer,
    started: Instant,
) -> Response<ResponseBody> {
    let response = respond::gateway_failure(&definition.name, failure.kind);
    if let Some(target) = failure.target {
        let metrics = &target.handles.metrics;
        metrics.answered(response.status());
        metrics.duration().observe(started.elapsed().as_secs_f64());
    }
    response
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}
