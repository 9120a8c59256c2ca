//! Real origins on 127.0.0.1 and model builders for the health tests.

use std::net::SocketAddr;
use std::time::Duration;

use lifeline_model::{
    AdminSettings, CodeMatcher, HostPort, HttpCheck, Monitor, MonitorKind, Origin, Pool, Topology,
};
use lifeline_origin::{Behaviour, serve_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

/// An origin server running until dropped.
pub struct RunningOrigin {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl RunningOrigin {
    pub async fn start(name: &str, behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move { stopped.await.unwrap_or_default() };
        tokio::spawn(serve_with(listener, name.to_string(), behaviour, shutdown));
        Self { addr, _stop: stop }
    }

    /// `POST /_control?{query}` on a fresh connection.
    pub async fn control(&self, query: &str) {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        let request = format!(
            "POST /_control?{query} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    pub fn origin(&self, name: &str) -> Origin {
        origin_at(name, self.addr)
    }
}

pub fn origin_at(name: &str, addr: SocketAddr) -> Origin {
    Origin {
        name: name.into(),
        address: HostPort {
            host: addr.ip().to_string(),
            port: addr.port(),
        },
        weight: 1,
        enabled: true,
    }
}

/// An address where nothing listens.
pub async fn closed_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

pub fn http_check(path: &str) -> HttpCheck {
    HttpCheck {
        tls: false,
        method: "GET".into(),
        path: path.into(),
        port: None,
        headers: Vec::new(),
        expected_codes: CodeMatcher::default(),
        expected_body: None,
        follow_redirects: false,
        allow_insecure: false,
    }
}

pub fn monitor(name: &str, kind: MonitorKind, interval: Duration, timeout: Duration) -> Monitor {
    Monitor {
        name: name.into(),
        kind,
        interval,
        timeout,
        retries: 3,
        rise: 2,
    }
}

pub fn pool(name: &str, monitor: Option<&str>, origins: Vec<Origin>) -> Pool {
    Pool {
        name: name.into(),
        monitor: monitor.map(Into::into),
        origins,
        minimum_origins: 1,
        origin_protocol: lifeline_model::OriginProtocol::Http,
        eject_after: 5,
    }
}

pub fn topology(monitors: Vec<Monitor>, pools: Vec<Pool>) -> Topology {
    Topology {
        store: lifeline_model::StoreBackend::Embedded,
        instance: lifeline_model::InstanceSettings {
            name: lifeline_model::InstanceName::new("test"),
        },
        proxy: lifeline_model::ProxySettings::default(),
        admin: AdminSettings {
            listen: "127.0.0.1:0".parse().unwrap(),
            token: None,
            state_file: "unused.redb".into(),
            limits: lifeline_model::AdminLimits::default(),
        },
        monitors,
        pools,
        clusters: Vec::new(),
        scorecards: Vec::new(),
        receivers: Vec::new(),
        load_balancers: Vec::new(),
    }
}
