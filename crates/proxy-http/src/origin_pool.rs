//! Keep-alive connections to plain-HTTP origins: one idle list per origin address, found once
//! per routing generation (not per request), shared by every load balancer and kept across
//! generations.
//!
//! A connection is lent to one exchange at a time ([`h1`](crate::h1)) and comes back when the
//! answer's body has been read, if the origin keeps it alive. An idle connection that the origin
//! closed, or sent anything on, is never lent again: the reactor tells which at no cost when it
//! is checked out ([`OriginConn::is_quiet`]). Connections idle for [`IDLE_TIMEOUT`] are closed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use http::Uri;
use http::uri::Authority;
use hyper_util::client::legacy::connect::HttpConnector;
use tower::ServiceExt;

use crate::error::ErrorKind;
use crate::h1::OriginConn;

/// An idle origin connection is closed after this.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often idle connections past [`IDLE_TIMEOUT`], or closed by their origin, are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// The pools of every plain-HTTP origin address, by authority.
pub(crate) struct OriginPools {
    connector: HttpConnector,
    by_authority: Mutex<HashMap<Authority, Arc<OriginPool>>>,
}

/// One origin address's idle connections.
pub(crate) struct OriginPool {
    connector: HttpConnector,
    /// `http://authority/`, what the connector connects to.
    uri: Uri,
    /// Most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: OriginConn,
    since: Instant,
}

// === impl OriginPools ===

impl OriginPools {
    /// Must be called inside a Tokio runtime: it starts the sweeper of idle connections, which
    /// ends when the pools are dropped.
    pub(crate) fn new(connector: HttpConnector) -> Arc<Self> {
        let pools = Arc::new(Self {
            connector,
            by_authority: Mutex::new(HashMap::new()),
        });
        tokio::spawn(sweep(Arc::downgrade(&pools)));
        pools
    }

    /// The pool of `authority`, created on first use.
    pub(crate) fn get(&self, authority: &Authority) -> Arc<OriginPool> {
        let mut pools = lock(&self.by_authority);
        if let Some(pool) = pools.get(authority) {
            return Arc::clone(pool);
        }
        let uri = Uri::builder()
            .scheme("http")
            .authority(authority.clone())
            .path_and_query("/")
            .build()
            .expect("an authority with a scheme and a path is a valid URI");
        let pool = Arc::new(OriginPool {
            connector: self.connector.clone(),
            uri,
            idle: Mutex::new(Vec::new()),
        });
        pools.insert(authority.clone(), Arc::clone(&pool));
        pool
    }

    /// Forgets the pools of addresses no longer configured, closing their idle connections.
    pub(crate) fn retain(&self, configured: &HashSet<Authority>) {
        lock(&self.by_authority).retain(|authority, _| configured.contains(authority));
    }

    fn sweep(&self) {
        let pools: Vec<Arc<OriginPool>> = lock(&self.by_authority).values().cloned().collect();
        let now = Instant::now();
        for pool in pools {
            lock(&pool.idle).retain(|idle| idle.is_usable(now));
        }
    }
}

async fn sweep(pools: Weak<OriginPools>) {
    let mut interval = tokio::time::interval(SWEEP_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(pools) = pools.upgrade() else { return };
        pools.sweep();
    }
}

// === impl OriginPool ===

impl OriginPool {
    /// The origin's address, for log lines.
    pub(crate) fn authority(&self) -> &str {
        self.uri.authority().map_or("", Authority::as_str)
    }

    /// The most recently used idle connection that is still quiet; expired and closed ones are
    /// dropped on the way. `now` judges expiry.
    pub(crate) fn checkout(&self, now: Instant) -> Option<OriginConn> {
        let mut idle = lock(&self.idle);
        while let Some(entry) = idle.pop() {
            if entry.is_usable(now) {
                return Some(entry.conn);
            }
        }
        None
    }

    /// Takes back a connection whose exchange is over, idle from `now`: kept if it can serve
    /// again (`reusable`, and nothing left unread), else closed.
    pub(crate) fn release(&self, conn: OriginConn, now: Instant, reusable: bool) {
        if reusable && conn.read_buf.is_empty() {
            lock(&self.idle).push(Idle { conn, since: now });
        }
    }

    pub(crate) async fn connect(&self) -> Result<OriginConn, ErrorKind> {
        match self.connector.clone().oneshot(self.uri.clone()).await {
            Ok(io) => Ok(OriginConn::new(io.into_inner())),
            Err(err) => {
                let kind = ErrorKind::of_connect_error(&err);
                if kind == ErrorKind::Local {
                    tracing::warn!(origin = %self.authority(), error = %err, "cannot open a connection to the origin: this process is short of resources");
                } else {
                    tracing::debug!(origin = %self.authority(), error = %err, "cannot connect");
                }
                Err(kind)
            }
        }
    }
}

// === impl Idle ===

impl Idle {
    fn is_usable(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.since) < IDLE_TIMEOUT && self.conn.is_quiet()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
