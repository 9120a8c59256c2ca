//! The origin's routes, over real HTTP on 127.0.0.1.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lifeline_origin::{Behaviour, serve, serve_many, serve_with};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

struct Answer {
    status: StatusCode,
    served_by: Option<String>,
    location: Option<String>,
    body: String,
}

struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(name: &str, behaviour: Behaviour) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_with(
        listener,
        name.to_string(),
        behaviour,
        async move {
            stopped.await.unwrap_or_default();
        },
    ));
    Running { addr, stop, task }
}

fn client() -> Client<HttpConnector, Empty<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(method: Method, url: String) -> Answer {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Empty::new())
        .unwrap();
    let response = client().request(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
    };
    let (status, served_by, location) =
        (response.status(), header("x-served-by"), header("location"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        served_by,
        location,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

#[tokio::test]
async fn health_is_healthy_by_default_and_names_origin_and_host() {
    let origin = start("alpha", Behaviour::default()).await;
    let answer = send(Method::GET, format!("http://{}/health", origin.addr)).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.served_by.as_deref(), Some("alpha"));
    let json: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
    assert_eq!(json["status"], "healthy");
    assert_eq!(json["origin"], "alpha");
    assert_eq!(json["host"], origin.addr.to_string());
}

#[tokio::test]
async fn control_changes_status_body_and_delay_then_resets() {
    let origin = start("beta", Behaviour::default()).await;
    let base = format!("http://{}", origin.addr);

    let changed = send(Method::POST, format!("{base}/_control?status=500")).await;
    assert_eq!(changed.status, StatusCode::OK);
    assert!(changed.body.contains("\"status\":500"), "{}", changed.body);
    let failing = send(Method::GET, format!("{base}/health")).await;
    assert_eq!(failing.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(failing.body.contains("\"unhealthy\""), "{}", failing.body);

    send(
        Method::POST,
        format!("{base}/_control?body=custom%20text&delay_ms=200"),
    )
    .await;
    let started = Instant::now();
    let custom = send(Method::GET, format!("{base}/health")).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(custom.body, "custom text");
    let started = Instant::now();
    send(Method::GET, format!("{base}/anything")).await;
    assert!(started.elapsed() >= Duration::from_millis(200));

    let current = send(Method::GET, format!("{base}/_control")).await;
    assert!(
        current.body.contains("\"delay_ms\":200"),
        "{}",
        current.body
    );
    send(Method::POST, format!("{base}/_control?reset=1")).await;
    let healthy = send(Method::GET, format!("{base}/health")).await;
    assert_eq!(healthy.status, StatusCode::OK);
    assert!(healthy.body.contains("\"healthy\""), "{}", healthy.body);
}

#[tokio::test]
async fn bad_control_parameters_change_nothing() {
    let origin = start("gamma", Behaviour::default()).await;
    let base = format!("http://{}", origin.addr);
    let refused = send(Method::POST, format!("{base}/_control?status=900")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("status"), "{}", refused.body);
    let health = send(Method::GET, format!("{base}/health")).await;
    assert_eq!(health.status, StatusCode::OK);
}

#[tokio::test]
async fn other_paths_name_the_origin_and_redirect_points_to_health() {
    let origin = start("delta", Behaviour::default()).await;
    let base = format!("http://{}", origin.addr);
    let page = send(Method::POST, format!("{base}/some/page?x=1")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, "origin delta\n");
    assert_eq!(page.served_by.as_deref(), Some("delta"));
    let redirect = send(Method::GET, format!("{base}/redirect")).await;
    assert_eq!(redirect.status, StatusCode::FOUND);
    assert_eq!(redirect.location.as_deref(), Some("/health"));
}

#[tokio::test]
async fn starts_with_the_given_behaviour() {
    let origin = start(
        "epsilon",
        Behaviour {
            status: 503,
            ..Behaviour::default()
        },
    )
    .await;
    let answer = send(Method::GET, format!("http://{}/health", origin.addr)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn shutdown_closes_the_port_and_open_connections() {
    let origin = start(
        "zeta",
        Behaviour {
            delay: Duration::from_secs(30),
            ..Behaviour::default()
        },
    )
    .await;
    let url = format!("http://{}/health", origin.addr);
    let hanging = tokio::spawn(client().get(url.parse().unwrap()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    origin.stop.send(()).unwrap();
    origin.task.await.unwrap().unwrap();
    let cut = tokio::time::timeout(Duration::from_secs(5), hanging)
        .await
        .unwrap()
        .unwrap();
    assert!(
        cut.is_err(),
        "a request in flight must fail when the origin stops"
    );
    assert!(tokio::net::TcpStream::connect(origin.addr).await.is_err());
}

#[tokio::test]
async fn serve_many_runs_one_origin_per_listener() {
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..3 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        listeners.push(listener);
    }
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve_many(listeners, "bench-", async move {
            stopped.await.unwrap_or_default();
        })
        .await
    });
    for (index, addr) in addrs.iter().enumerate() {
        let answer = send(Method::GET, format!("http://{addr}/")).await;
        assert_eq!(answer.body, format!("origin bench-{index}\n"));
    }
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
    for addr in addrs {
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}

#[tokio::test]
async fn serve_answers_with_defaults() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, "eta".into(), async move {
        stopped.await.unwrap_or_default();
    }));
    let answer = send(Method::GET, format!("http://{addr}/health")).await;
    assert_eq!(answer.status, StatusCode::OK);
    stop.send(()).unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn control_counts_the_requests_in_flight() {
    let behaviour = Behaviour {
        delay: Duration::from_secs(30),
        ..Behaviour::default()
    };
    let origin = start("epsilon", behaviour).await;
    let base = format!("http://{}", origin.addr);
    let in_flight = || async {
        let current = send(Method::GET, format!("{base}/_control")).await;
        let view: serde_json::Value = serde_json::from_str(&current.body).unwrap();
        view["in_flight"].as_u64().unwrap()
    };
    assert_eq!(in_flight().await, 0);
    let slow = tokio::spawn(send(Method::GET, format!("{base}/slow")));
    let started = Instant::now();
    while in_flight().await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // A request cut short is no longer counted.
    slow.abort();
    let started = Instant::now();
    while in_flight().await != 0 {
        assert!(started.elapsed() < Duration::from_secs(5), "still counted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
