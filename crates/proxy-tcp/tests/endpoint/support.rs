//! Echo backends (on 127.0.0.91), a running endpoint, and client helpers (on 127.0.0.1).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lifeline_model::NodeName;
use lifeline_proxy_tcp::{Backend, Route, TcpMetrics, serve};
use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How long a test waits for something that should happen at once.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A backend that echoes every byte back, and counts the connections it accepted and saw
/// closed.
pub struct Echo {
    pub node: NodeName,
    pub addr: SocketAddr,
    accepted: watch::Receiver<usize>,
    closed: watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Echo {
    pub async fn start(node: &str) -> Self {
        // Not on 127.0.0.1, where other tests running at the same time probe ports they found
        // free a moment ago: one of those could be this listener's, and its connections would
        // count as the endpoint's.
        let listener = TcpListener::bind("127.0.0.91:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (accepted_tx, accepted) = watch::channel(0);
        let (closed_tx, closed) = watch::channel(0);
        let closed_tx = Arc::new(closed_tx);
        let task = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                accepted_tx.send_modify(|n| *n += 1);
                let closed_tx = Arc::clone(&closed_tx);
                tokio::spawn(async move {
                    let (mut read, mut write) = stream.split();
                    // A reset from a proxy that closed the connection is an end like any other.
                    if let Err(err) = tokio::io::copy(&mut read, &mut write).await {
                        eprintln!("echo connection ended: {err}");
                    }
                    closed_tx.send_modify(|n| *n += 1);
                });
            }
        });
        Self {
            node: NodeName::new(node),
            addr,
            accepted,
            closed,
            task,
        }
    }

    pub fn backend(&self) -> Backend {
        Backend {
            node: self.node.clone(),
            address: self.addr.to_string(),
        }
    }

    pub fn accepted(&self) -> usize {
        *self.accepted.borrow()
    }

    /// Waits until this backend has seen `n` connections closed.
    pub async fn wait_closed(&self, n: usize) {
        let mut closed = self.closed.clone();
        tokio::time::timeout(PATIENCE, closed.wait_for(|closed| *closed >= n))
            .await
            .expect("the backend's connections were not closed")
            .unwrap();
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An address where nothing listens: connects to it are refused.
pub async fn dead_backend(node: &str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    drop(listener);
    Backend {
        node: NodeName::new(node),
        address,
    }
}

/// One endpoint served on its own listener, with its route sender and metrics.
pub struct Endpoint {
    pub addr: SocketAddr,
    route: watch::Sender<Arc<Route>>,
    registry: Registry,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Endpoint {
    pub const NAME: &str = "main/reader";

    pub async fn start(backends: Vec<Backend>, wait: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (route, receiver) = watch::channel(Arc::new(Route { backends }));
        let mut registry = Registry::default();
        let metrics = TcpMetrics::register(&mut registry);
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            // A dropped sender stops the endpoint too.
            if stopped.await.is_err() {
                eprintln!("the test dropped the endpoint");
            }
        };
        let task = tokio::spawn(async move {
            let (_, wait) = watch::channel(wait);
            serve(Self::NAME, listener, receiver, wait, metrics, shutdown).await
        });
        Self {
            addr,
            route,
            registry,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn publish(&self, backends: Vec<Backend>) {
        self.route.send_replace(Arc::new(Route { backends }));
    }

    /// The value of the series `name{labels}` (labels as the text format writes them), if it
    /// exists.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let mut text = String::new();
        encode(&mut text, &self.registry).unwrap();
        text.lines().find_map(|line| {
            let value = line.strip_prefix(series)?.strip_prefix(' ')?;
            Some(value.parse().unwrap())
        })
    }

    /// Triggers shutdown and waits for `serve` to return.
    pub async fn shutdown(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        let task = self.task.take().unwrap();
        tokio::time::timeout(PATIENCE, task)
            .await
            .expect("serve did not return after shutdown")
            .unwrap()
            .unwrap();
    }
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.unwrap()
}

/// Sends `data` and reads it back, byte-exact.
pub async fn round_trip(stream: &mut TcpStream, data: &[u8]) {
    let (mut read, mut write) = stream.split();
    let writing = async {
        write.write_all(data).await.unwrap();
    };
    let reading = async {
        let mut echoed = vec![0; data.len()];
        read.read_exact(&mut echoed).await.unwrap();
        echoed
    };
    let ((), echoed) = tokio::time::timeout(PATIENCE, async { tokio::join!(writing, reading) })
        .await
        .expect("no echo");
    assert!(echoed == data, "the echo differs from what was sent");
}

/// Waits until the peer closes `stream` (end of stream or reset), and fails if data arrives.
pub async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0; 64];
    let read = tokio::time::timeout(PATIENCE, stream.read(&mut buf))
        .await
        .expect("the connection was not closed");
    match read {
        Ok(0) => {}
        Ok(n) => panic!("read {n} bytes from a connection that should be closed"),
        Err(err) => assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}"),
    }
}

/// Waits until `check` holds, looking every few milliseconds.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `name{endpoint="main/reader",node="NODE"}`.
pub fn node_series(name: &str, node: &str) -> String {
    format!(r#"{name}{{endpoint="{}",node="{node}"}}"#, Endpoint::NAME)
}

/// `name{endpoint="main/reader"}`.
pub fn endpoint_series(name: &str) -> String {
    format!(r#"{name}{{endpoint="{}"}}"#, Endpoint::NAME)
}
