//! The router tested with `oneshot`, over a real embedded store and controller handle.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use lifeline_control::decide::Overrides;
use lifeline_control::escalation::Escalation;
use lifeline_control::{Controller, Metrics};
use lifeline_model::{
    AdminSettings, EventKind, HostPort, LoadBalancer, LoadBalancerName, Monitor, MonitorKind,
    MonitorName, NewEvent, Origin, OriginName, OriginProtocol, Pool, PoolName, Route, Secret,
    SessionAffinity, SteeringPolicy, Timestamp, Topology,
};
use lifeline_store::{EmbeddedStore, StateStore};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;

use crate::server::{AdminCommand, AdminState, PreflightResults, ReloadOutcome};

pub(super) const TOKEN: &str = "s3cret-admin-token";

fn topology(token: Option<&str>) -> Topology {
    Topology {
        store: lifeline_model::StoreBackend::Embedded,
        instance: lifeline_model::InstanceSettings {
            name: lifeline_model::InstanceName::new("test"),
        },
        proxy: lifeline_model::ProxySettings::default(),
        admin: AdminSettings {
            listen: "127.0.0.1:9090".parse().unwrap(),
            token: token.map(Secret::new),
            state_file: PathBuf::from("unused"),
            limits: lifeline_model::AdminLimits::default(),
        },
        monitors: vec![Monitor {
            name: MonitorName::new("tcp"),
            kind: MonitorKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            retries: 2,
            rise: 2,
        }],
        pools: vec![Pool {
            name: PoolName::new("web"),
            monitor: Some(MonitorName::new("tcp")),
            origins: vec![Origin {
                name: OriginName::new("a"),
                address: HostPort {
                    host: "127.0.0.1".into(),
                    port: 1,
                },
                weight: 1,
                enabled: true,
            }],
            minimum_origins: 1,
            origin_protocol: OriginProtocol::Http,
            eject_after: 5,
        }],
        clusters: Vec::new(),
        scorecards: Vec::new(),
        receivers: Vec::new(),
        load_balancers: vec![LoadBalancer {
            name: LoadBalancerName::new("api"),
            listeners: Vec::new(),
            hostnames: Vec::new(),
            routes: Route {
                default_pools: vec![PoolName::new("web")],
                fallback_pool: None,
            },
            rules: Vec::new(),
            steering_policy: SteeringPolicy::Failover,
            region_pools: Vec::new(),
            regions: Vec::new(),
            region_header: None,
            session_affinity: SessionAffinity::None,
            try_timeout: Duration::from_secs(5),
            retries: 2,
            hedge_after: None,
            slow_start: Duration::ZERO,
            rto_alert: Duration::from_secs(60),
        }],
    }
}

pub(super) struct Fixture {
    pub(super) state: AdminState,
    commands: mpsc::Receiver<AdminCommand>,
    _dir: tempfile::TempDir,
}

pub(super) async fn fixture(token: Option<&str>) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
    let topology = Arc::new(topology(token));
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (_observations_tx, observations) = mpsc::channel(1);
    let (_ejections_tx, ejections) = mpsc::channel(1);
    let leadership = store.campaign("test").await.unwrap();
    let (_role_tx, role) = tokio::sync::watch::channel(Some(leadership));
    let (controller, handle) = Controller::new(
        topology.clone(),
        Overrides::default(),
        store.clone(),
        metrics,
        observations,
        ejections,
        role,
    );
    tokio::spawn(controller.run(std::future::pending()));
    let (commands_tx, commands) = mpsc::channel(1);
    let state = AdminState {
        controller: handle,
        store,
        registry: Arc::new(registry),
        topology: Arc::new(ArcSwap::new(topology)),
        commands: commands_tx,
        clusters: Arc::default(),
        preflight: PreflightResults::default(),
        instances: Arc::default(),
        escalation: Escalation::default(),
    };
    Fixture {
        state,
        commands,
        _dir: dir,
    }
}

pub(super) async fn call(state: &AdminState, request: Request<Body>) -> (StatusCode, String) {
    let response = crate::app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

fn post(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn status_lists_pools_and_origins() {
    let f = fixture(Some(TOKEN)).await;
    let (code, body) = call(&f.state, get("/status")).await;
    assert_eq!(code, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["pools"][0]["name"], "web");
    assert_eq!(json["pools"][0]["state"], "unknown");
    assert_eq!(json["pools"][0]["origins"][0]["name"], "a");
    assert_eq!(json["pools"][0]["origins"][0]["health"], "unknown");
    assert!(!body.contains(TOKEN));
}

#[tokio::test]
async fn health_is_503_degraded_until_pools_are_healthy_and_ready_waits_for_checks() {
    let f = fixture(None).await;
    let (code, body) = call(&f.state, get("/health")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["status"], "degraded");
    assert_eq!(json["checks"]["store"], "ok");
    assert_eq!(json["checks"]["controller"], "ok");
    assert_eq!(json["checks"]["pools"]["web"], "unknown");

    let (code, body) = call(&f.state, get("/ready")).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("waiting for the first check"), "{body}");
}

#[tokio::test]
async fn changes_without_the_token_get_401_and_reach_nothing() {
    let mut f = fixture(Some(TOKEN)).await;
    for token in [None, Some("wrong"), Some("")] {
        let (code, body) = call(&f.state, post("/reload", token)).await;
        assert_eq!(code, StatusCode::UNAUTHORIZED, "token {token:?}");
        assert!(body.contains("bearer token"), "{body}");
        assert!(!body.contains(TOKEN));
    }
    assert!(
        f.commands.try_recv().is_err(),
        "no command may reach the daemon"
    );
}

#[tokio::test]
async fn without_a_configured_token_every_change_is_refused() {
    let mut f = fixture(None).await;
    let (code, body) = call(&f.state, post("/reload", Some("anything"))).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
    assert!(body.contains("no admin token is configured"), "{body}");
    assert!(f.commands.try_recv().is_err());
}

#[tokio::test]
async fn reload_with_the_token_reaches_the_daemon() {
    let mut f = fixture(Some(TOKEN)).await;
    let daemon = tokio::spawn(async move {
        let Some(AdminCommand::Reload { reply }) = f.commands.recv().await else {
            panic!("expected a reload");
        };
        reply
            .send(ReloadOutcome::Applied {
                summary: "1 pools".into(),
            })
            .unwrap();
        let Some(AdminCommand::Reload { reply }) = f.commands.recv().await else {
            panic!("expected a reload");
        };
        reply
            .send(ReloadOutcome::Rejected {
                errors: vec!["lifeline.toml:3:1: error: unknown key `x`".into()],
            })
            .unwrap();
    });
    let (code, body) = call(&f.state, post("/reload", Some(TOKEN))).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body.contains("\"reloaded\""), "{body}");

    let (code, body) = call(&f.state, post("/reload", Some(TOKEN))).await;
    assert_eq!(code, StatusCode::BAD_REQUEST);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["errors"][0],
        "lifeline.toml:3:1: error: unknown key `x`"
    );
    daemon.await.unwrap();
}

#[tokio::test]
async fn events_are_paged_and_bad_queries_get_400() {
    let f = fixture(None).await;
    for n in 0..5 {
        f.state
            .store
            .append(NewEvent::new(
                Timestamp::from_millis(n),
                EventKind::OriginDown,
                "a",
                "test",
            ))
            .await
            .unwrap();
    }
    let (code, body) = call(&f.state, get("/events?since=2&limit=2")).await;
    assert_eq!(code, StatusCode::OK);
    let json: Value = serde_json::from_str(&body).unwrap();
    let seqs: Vec<u64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, vec![3, 4]);
    assert_eq!(json[0]["kind"], "origin_down");

    let (_, body) = call(&f.state, get("/events?limit=2")).await;
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json[1]["seq"], 5, "the newest events without since");

    for bad in [
        "/events?limit=abc",
        "/events?since=-1",
        "/events?limit=0",
        "/events?color=red",
    ] {
        let (code, body) = call(&f.state, get(bad)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body.starts_with("{\"error\""), "{body}");
    }
}

#[tokio::test]
async fn metrics_are_openmetrics_text() {
    let f = fixture(None).await;
    let response = crate::app(f.state.clone())
        .oneshot(get("/metrics"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.contains("lifeline_pool_state{pool=\"web\",state=\"unknown\"} 1"),
        "{text}"
    );
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn unknown_paths_get_404_json() {
    let f = fixture(None).await;
    let (code, body) = call(&f.state, get("/nope")).await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    assert_eq!(body, "{\"error\":\"no such endpoint\"}");
}

fn put_json(uri: &str, token: Option<&str>, body: &str) -> Request<Body> {
    let mut request = Request::put(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn force_and_drain_need_the_token_and_show_in_status() {
    let f = fixture(Some(TOKEN)).await;
    let (code, _) = call(
        &f.state,
        put_json("/load_balancers/api/force", None, r#"{"pool":"web"}"#),
    )
    .await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);

    let (code, body) = call(
        &f.state,
        put_json(
            "/load_balancers/api/force",
            Some(TOKEN),
            r#"{"pool":"web"}"#,
        ),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, status) = call(&f.state, get("/status")).await;
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(
        status["load_balancers"][0]["forced"],
        serde_json::json!({"pool": "web"})
    );

    let delete = Request::delete("/load_balancers/api/force")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let (code, _) = call(&f.state, delete).await;
    assert_eq!(code, StatusCode::OK);

    let (code, body) = call(&f.state, put_json("/origins/a/drain", Some(TOKEN), "")).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (_, status) = call(&f.state, get("/status")).await;
    let status: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(status["pools"][0]["origins"][0]["draining"], true);
    assert!(status["load_balancers"][0]["forced"].is_null());
}

#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case_and_after_several_spaces() {
    let f = fixture(Some(TOKEN)).await;
    for credentials in [
        format!("bearer {TOKEN}"),
        format!("BEARER  {TOKEN}"),
        format!("Bearer {TOKEN}"),
    ] {
        let request = Request::put("/origins/a/drain")
            .header(header::AUTHORIZATION, &credentials)
            .body(Body::empty())
            .unwrap();
        let (code, body) = call(&f.state, request).await;
        assert_eq!(code, StatusCode::OK, "{credentials}: {body}");
    }
    let request = Request::put("/origins/a/drain")
        .header(header::AUTHORIZATION, format!("Basic {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&f.state, request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn force_and_drain_refuse_bad_requests_with_400() {
    let f = fixture(Some(TOKEN)).await;
    for (uri, body, expected) in [
        (
            "/load_balancers/nope/force",
            r#"{"pool":"web"}"#,
            "no load balancer is named `nope`",
        ),
        (
            "/load_balancers/api/force",
            r#"{"pool":"nope"}"#,
            "no pool is named `nope`",
        ),
        (
            "/load_balancers/api/force",
            r#"{"pool":"web","origin":"a"}"#,
            "exactly one of",
        ),
        (
            "/load_balancers/api/force",
            r#"{"color":"red"}"#,
            "unknown field",
        ),
        ("/load_balancers/api/force", "not json", "error"),
        ("/origins/nope/drain", "", "no origin is named `nope`"),
    ] {
        let (code, answer) = call(&f.state, put_json(uri, Some(TOKEN), body)).await;
        assert_eq!(code, StatusCode::BAD_REQUEST, "{uri} {body}: {answer}");
        assert!(answer.contains(expected), "{uri} {body}: {answer}");
    }
}
