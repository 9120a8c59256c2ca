//! A webhook receiver for the tests: a real HTTP server (hyper) on a loopback port that keeps
//! every JSON body posted to it, with when it came, and can be stopped and started again on
//! the same port, as a receiver that is down for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::ports::free_port;

/// One body received, and when.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

pub struct WebhookReceiver {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    server: Option<JoinHandle<()>>,
}

impl WebhookReceiver {
    /// A receiver on a free port, not started (down).
    pub fn down() -> Self {
        Self {
            port: free_port(),
            received: Arc::default(),
            server: None,
        }
    }

    /// A receiver that is up.
    pub async fn start() -> Self {
        let mut receiver = Self::down();
        receiver.up().await;
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Starts taking requests on its port.
    pub async fn up(&mut self) {
        assert!(self.server.is_none(), "the receiver is up already");
        let address = SocketAddr::from(([127, 0, 0, 1], self.port));
        let listener = TcpListener::bind(address)
            .await
            .expect("cannot bind the webhook receiver");
        let received = self.received.clone();
        self.server = Some(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let received = received.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                        let received = received.clone();
                        async move {
                            let path = request.uri().path().to_string();
                            let body = request.into_body().collect().await?.to_bytes();
                            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                            received.lock().unwrap().push(Received {
                                path,
                                body,
                                at: Instant::now(),
                            });
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from_static(
                                b"ok",
                            ))))
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }

    /// Stops taking connections (new ones are refused).
    pub fn down_now(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.down_now();
    }
}
