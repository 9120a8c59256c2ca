//! Test support: hand-built routing tables, a proxy on a real socket, origins of several kinds
//! (the project's test origin, hyper handlers, raw TCP scripts) and a small client.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lifeline_model::{
    AdminSettings, Ejection, HostPort, Listener, LoadBalancer, Origin, OriginProtocol,
    OriginRouting, Pool, PoolRouting, PoolState, Route, RoutingTable, SessionAffinity,
    SteeringPolicy, Topology,
};
use lifeline_origin::Behaviour;
use lifeline_proxy_http::{DataPlane, ProxyMetrics};
use prometheus_client::registry::Registry;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A pool of the given origins, plain HTTP, no monitor, passive ejection off.
pub fn pool(name: &str, origins: &[(&str, SocketAddr)]) -> Pool {
    Pool {
        name: name.into(),
        monitor: None,
        origins: origins
            .iter()
            .map(|(name, address)| Origin {
                name: (*name).into(),
                address: HostPort {
                    host: address.ip().to_string(),
                    port: address.port(),
                },
                weight: 1,
                enabled: true,
            })
            .collect(),
        minimum_origins: 1,
        origin_protocol: OriginProtocol::Http,
        eject_after: 0,
    }
}

/// A load balancer on `address` over `pools` in order, with 2 retries and a 2 s try timeout.
pub fn load_balancer(address: SocketAddr, pools: &[Pool]) -> LoadBalancer {
    LoadBalancer {
        name: "web".into(),
        listeners: vec![Listener { address, tls: None }],
        hostnames: Vec::new(),
        routes: Route {
            default_pools: pools.iter().map(|pool| pool.name.clone()).collect(),
            fallback_pool: None,
        },
        rules: Vec::new(),
        steering_policy: SteeringPolicy::Failover,
        region_pools: Vec::new(),
        regions: Vec::new(),
        region_header: None,
        session_affinity: SessionAffinity::None,
        try_timeout: Duration::from_secs(2),
        retries: 2,
        hedge_after: None,
        slow_start: Duration::ZERO,
        rto_alert: Duration::from_secs(60),
    }
}

/// A routing table in which every origin is as healthy as `healthy` says.
pub fn table(pools: Vec<Pool>, load_balancer: LoadBalancer, healthy: bool) -> RoutingTable {
    let routing = pools
        .iter()
        .map(|pool| PoolRouting {
            state: if healthy {
                PoolState::Healthy
            } else {
                PoolState::Down
            },
            serving_since: None,
            origins: pool
                .origins
                .iter()
                .map(|_| OriginRouting {
                    healthy,
                    draining: false,
                    healthy_since: None,
                })
                .collect(),
        })
        .collect();
    RoutingTable {
        generation: 1,
        topology: Arc::new(Topology {
            store: lifeline_model::StoreBackend::Embedded,
            instance: lifeline_model::InstanceSettings {
                name: lifeline_model::InstanceName::new("test"),
            },
            proxy: lifeline_model::ProxySettings::default(),
            admin: AdminSettings {
                listen: "127.0.0.1:9090".parse().unwrap(),
                token: None,
                state_file: PathBuf::from("unused.redb"),
                limits: lifeline_model::AdminLimits::default(),
            },
            monitors: Vec::new(),
            pools,
            clusters: Vec::new(),
            scorecards: Vec::new(),
            receivers: Vec::new(),
            load_balancers: vec![load_balancer],
        }),
        pools: routing,
        forced: Vec::new(),
    }
}

/// How to start a proxy.
pub struct Setup {
    pub pools: Vec<Pool>,
    pub healthy: bool,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub ejection_capacity: usize,
    pub drain_deadline: Duration,
}

impl Setup {
    pub fn new(pools: Vec<Pool>) -> Self {
        Self {
            pools,
            healthy: true,
            tls: None,
            ejection_capacity: 16,
            drain_deadline: Duration::from_secs(5),
        }
    }

    /// Starts the proxy; `configure` adjusts its load balancer.
    pub async fn start(self, configure: impl FnOnce(&mut LoadBalancer)) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.start_on(listener, configure).await
    }

    /// Starts the proxy on `listener`, bound beforehand (so that a pool can name its address).
    pub async fn start_on(
        self,
        listener: TcpListener,
        configure: impl FnOnce(&mut LoadBalancer),
    ) -> Proxy {
        let addr = listener.local_addr().unwrap();
        let mut definition = load_balancer(addr, &self.pools);
        configure(&mut definition);
        let (routing, routing_rx) =
            watch::channel(Arc::new(table(self.pools, definition, self.healthy)));
        let (ejections_tx, ejections) = mpsc::channel(self.ejection_capacity);
        let mut registry = Registry::default();
        let metrics = ProxyMetrics::register(&mut registry);
        let plane = DataPlane::new(routing_rx, ejections_tx, metrics);
        let (shutdown, shutdown_rx) = oneshot::channel::<()>();
        let drain_deadline = self.drain_deadline;
        let tls = self.tls;
        let served = tokio::spawn(async move {
            let shutdown = async {
                if shutdown_rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            plane.serve(listener, tls, shutdown, drain_deadline).await
        });
        Proxy {
            addr,
            routing,
            ejections,
            registry,
            shutdown: Some(shutdown),
            served,
        }
    }
}

/// A running proxy.
pub struct Proxy {
    pub addr: SocketAddr,
    pub routing: watch::Sender<Arc<RoutingTable>>,
    pub ejections: mpsc::Receiver<Ejection>,
    registry: Registry,
    shutdown: Option<oneshot::Sender<()>>,
    served: JoinHandle<io::Result<()>>,
}

impl Proxy {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The metrics in Prometheus text format.
    pub fn metrics(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text
    }

    /// Resolves `shutdown` and waits until `serve` returns.
    pub async fn stop(mut self) -> io::Result<()> {
        self.shutdown.take().unwrap().send(()).unwrap();
        tokio::time::timeout(PATIENCE, self.served)
            .await
            .expect("serve returns after its drain deadline")
            .unwrap()
    }

    /// The next ejection, waiting a little for it.
    pub async fn ejection(&mut self) -> Ejection {
        tokio::time::timeout(PATIENCE, self.ejections.recv())
            .await
            .expect("an ejection arrives")
            .unwrap()
    }
}

/// The project's test origin, answering `origin NAME`.
pub async fn test_origin(name: &str) -> SocketAddr {
    test_origin_with(name, Behaviour::default()).await
}

/// The test origin, answering after `delay`.
pub async fn slow_origin(name: &str, delay: Duration) -> SocketAddr {
    let behaviour = Behaviour {
        delay,
        ..Behaviour::default()
    };
    test_origin_with(name, behaviour).await
}

async fn test_origin_with(name: &str, behaviour: Behaviour) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name = name.to_string();
    tokio::spawn(async move {
        lifeline_origin::serve_with(listener, name, behaviour, std::future::pending())
            .await
            .unwrap();
    });
    addr
}

/// An address nothing listens on: connections are refused.
pub fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// An HTTP/1.1 origin answering with `handler`.
pub async fn handler_origin<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    raw_origin(move |stream| {
        let handler = handler.clone();
        async move {
            let service = service_fn(move |request| {
                let handler = handler.clone();
                async move { Ok::<_, Infallible>(handler(request).await) }
            });
            if let Err(err) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await
            {
                eprintln!("handler origin: {err}");
            }
        }
    })
    .await
}

/// An origin that runs `script` on every accepted connection.
pub async fn raw_origin<F, Fut>(script: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(script(stream));
        }
    });
    addr
}

/// Reads a message head, through its blank line, a byte at a time so that nothing after it is
/// taken; `None` if the peer closes (or fails) first.
pub async fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// A response read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// Sends one request over HTTP/1.1.
pub async fn send(request: Request<Full<Bytes>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = tokio::time::timeout(PATIENCE, client.request(request))
        .await
        .expect("the proxy answers")
        .expect("the proxy answers with HTTP");
    read(response).await
}

pub async fn read(response: Response<Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(url: &str) -> Reply {
    send(request(Method::GET, url, Bytes::new())).await
}

pub fn request(method: Method, url: &str, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body.into()))
        .unwrap()
}

/// Writes `bytes` on a new connection to `addr` and reads until the proxy closes it or
/// `PATIENCE` passes.
pub async fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0_u8; 4096];
    let reading = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
                Err(err) => {
                    eprintln!("raw exchange: {err}");
                    break;
                }
            }
        }
    };
    tokio::time::timeout(PATIENCE, reading)
        .await
        .expect("the proxy answers and closes");
    String::from_utf8_lossy(&answer).into_owned()
}
