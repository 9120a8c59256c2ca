//! `POST /failover/trigger` and `/failover/switchover` against real cluster managers whose
//! nodes do not answer: every refusal gets the status of its kind.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use lifeline_control::cluster::{ClusterManager, ClusterMetrics};
use lifeline_model::{
    Cluster, ClusterDriver, ClusterKind, ClusterName, ClusterNode, NodeConnection, NodeName, PgDsn,
};
use serde_json::Value;
use tokio::sync::watch;

use super::tests::{TOKEN, call, fixture};

/// A cluster whose nodes listen nowhere (port 1).
fn cluster(name: &str) -> Arc<Cluster> {
    let node = |name: &str| ClusterNode {
        name: NodeName::new(name),
        connection: NodeConnection::Postgres(
            PgDsn::parse("host=127.0.0.1 port=1 user=lifeline").unwrap(),
        ),
        priority: 0,
        no_failover: false,
    };
    Arc::new(Cluster {
        name: ClusterName::new(name),
        kind: ClusterKind::Postgres,
        nodes: vec![node("pg1"), node("pg2")],
        writer_listen: None,
        reader_listen: None,
        sentinel_listen: None,
        check_interval: Duration::from_secs(1),
        failure_threshold: 3,
        rise: 2,
        maximum_lag_on_failover: 1024,
        primary_silence: Duration::from_secs(3),
        synchronous_mode: false,
        synchronous_mode_strict: false,
        auto_failover: true,
        writer_wait: Duration::from_secs(1),
        rejoin_command: None,
    })
}

/// PostgreSQL's driver: the nodes' ports are closed, so every probe fails to connect.
fn driver() -> Arc<dyn ClusterDriver> {
    Arc::new(lifeline_postgres::PgDriver)
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn refusals_are_409_unknown_names_404_and_a_stopped_cluster_or_a_follower_503() {
    let f = fixture(Some(TOKEN)).await;
    let metrics = ClusterMetrics::default();
    let leadership = f.state.store.campaign("test").await.unwrap();
    let (_leading_tx, leading) = watch::channel(Some(leadership));
    let (_following_tx, following) = watch::channel(None);
    let start = |name: &str, role| {
        ClusterManager::start(
            cluster(name),
            driver(),
            f.state.store.clone(),
            metrics.clone(),
            role,
        )
    };
    let (running, running_handle) = start("main", leading.clone()).await.unwrap();
    tokio::spawn(running.run(std::future::pending()));
    // Its loop never runs: requests find it stopped.
    let (stopped, stopped_handle) = start("gone", leading).await.unwrap();
    drop(stopped);
    // Another instance leads.
    let (follower, follower_handle) = start("elsewhere", following).await.unwrap();
    tokio::spawn(follower.run(std::future::pending()));
    f.state.clusters.store(Arc::new(vec![
        running_handle,
        stopped_handle,
        follower_handle,
    ]));

    let cases = [
        (
            "/failover/trigger",
            r#"{"cluster": "main", "target": "pg2"}"#,
            StatusCode::CONFLICT,
            "pg2 is not healthy",
        ),
        (
            "/failover/switchover",
            r#"{"cluster": "main"}"#,
            StatusCode::CONFLICT,
            "no healthy standby",
        ),
        (
            "/failover/trigger",
            r#"{"cluster": "main", "target": "pg9"}"#,
            StatusCode::NOT_FOUND,
            "cluster main has no node `pg9`",
        ),
        (
            "/failover/switchover",
            r#"{"cluster": "other"}"#,
            StatusCode::NOT_FOUND,
            "no cluster is named `other`",
        ),
        (
            "/failover/trigger",
            r#"{"cluster": "gone"}"#,
            StatusCode::SERVICE_UNAVAILABLE,
            "the manager of cluster gone has stopped",
        ),
        (
            "/failover/switchover",
            r#"{"cluster": "elsewhere"}"#,
            StatusCode::SERVICE_UNAVAILABLE,
            "this instance does not lead",
        ),
    ];
    for (path, body, status, message) in cases {
        let (code, answer) = call(&f.state, post_json(path, body)).await;
        assert_eq!(code, status, "{path} {body}: {answer}");
        let json: Value = serde_json::from_str(&answer).unwrap();
        let error = json["error"].as_str().unwrap_or_default();
        assert!(error.contains(message), "{path} {body}: {answer}");
    }
}
