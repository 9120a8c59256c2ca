//! Keep-alive HTTP/1.1 connections to plain-HTTP origins: one idle list per origin address,
//! found once per routing generation (not per request), shared by every load balancer and kept
//! across generations.
//!
//! It stands apart from hyper-util's pooled client, which the HTTPS origins still use, because
//! that client costs per request what a proxy cannot afford on its hot path: a pool-key hash
//! lookup under a lock, a race between checkout and connect, an absolute URI rebuilt into origin
//! form, and a task spawned to put the connection back. Here a request pops a ready connection
//! (or connects), sends, and its response body puts the connection back when it ends: the
//! [`Lease`] travels with the body.
//!
//! As hyper-util's client does, a request that a reused connection turned down before sending
//! any of it (the origin had just closed it) goes out again on another connection, so that an
//! origin closing idle connections never shows as a failure. Connections idle for
//! [`IDLE_TIMEOUT`] are closed.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http::Uri;
use http::uri::Authority;
use hyper::body::Incoming;
use hyper::client::conn::TrySendError;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use tower::ServiceExt;

use crate::body::OutBody;
use crate::error::ErrorKind;

/// An idle origin connection is closed after this.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How often idle connections past [`IDLE_TIMEOUT`] are looked for when no request does it.
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
    sender: SendRequest<OutBody>,
    since: Instant,
}

/// What sending through a pool resolves to: the response, and the connection it came on.
pub(crate) type Sent = Result<(Response<Incoming>, Lease), ErrorKind>;

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A request on its way through an origin's pool. The common case, an idle connection at hand,
/// is handled here without a future of its own around it: this is moved with every attempt,
/// so it stays small, and the rest (connecting, or sending again after the reused connection
/// turned out closed) is boxed.
pub(crate) struct Sending {
    pool: Arc<OriginPool>,
    now: Instant,
    state: SendState,
}

enum SendState {
    /// Sent on a reused connection; its answer is awaited.
    Reused {
        sender: SendRequest<OutBody>,
        response: Boxed<Result<Response<Incoming>, TrySendError<Request<OutBody>>>>,
    },
    /// On a connection found (or made) after the first try.
    Other(Boxed<Sent>),
    Done,
}

/// A connection lent to one exchange; back to its pool when dropped, if it can serve again.
pub(crate) struct Lease {
    pool: Arc<OriginPool>,
    /// Always `Some` until dropped.
    sender: Option<SendRequest<OutBody>>,
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
    /// Sends `request` (origin-form URI, `Host` set) on an idle connection at once, or on a new
    /// one once connected. `now` tells which idle connections have expired.
    pub(crate) fn send(self: &Arc<Self>, request: Request<OutBody>, now: Instant) -> Sending {
        let pool = Arc::clone(self);
        let state = match self.checkout(now) {
            Some(mut sender) => SendState::Reused {
                response: Box::pin(sender.try_send_request(request)),
                sender,
            },
            None => SendState::Other(Box::pin(Arc::clone(self).send_slowly(request, now))),
        };
        Sending { pool, now, state }
    }

    /// [`send`](Self::send)'s rare path: over an idle connection or a new one, again when a
    /// reused connection turns the request down unsent.
    async fn send_slowly(self: Arc<Self>, mut request: Request<OutBody>, now: Instant) -> Sent {
        loop {
            let (mut sender, reused) = match self.checkout(now) {
                Some(sender) => (sender, true),
                None => (self.connect().await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let lease = Lease {
                        pool: Arc::clone(&self),
                        sender: Some(sender),
                    };
                    return Ok((response, lease));
                }
                Err(mut err) => match err.take_message() {
                    // Turned down before any of it was sent: the connection had just closed.
                    Some(unsent) if reused => request = unsent,
                    Some(_) => {
                        tracing::debug!(origin = %self.uri, error = %err.error(), "new connection closed before the request");
                        return Err(ErrorKind::Connect);
                    }
                    None => {
                        tracing::debug!(origin = %self.uri, error = %err.error(), "attempt failed");
                        return Err(ErrorKind::Protocol);
                    }
                },
            }
        }
    }

    /// The most recently used connection ready for a request; closed and expired ones are
    /// dropped on the way, busy ones (still finishing a response) stay.
    fn checkout(&self, now: Instant) -> Option<SendRequest<OutBody>> {
        let mut idle = lock(&self.idle);
        let mut index = idle.len();
        while index > 0 {
            index -= 1;
            let entry = &idle[index];
            if !entry.is_usable(now) {
                // What moves into `index` comes from above it: already looked at.
                idle.swap_remove(index);
            } else if entry.sender.is_ready() {
                return Some(idle.swap_remove(index).sender);
            }
        }
        None
    }

    async fn connect(&self) -> Result<SendRequest<OutBody>, ErrorKind> {
        let io = match self.connector.clone().oneshot(self.uri.clone()).await {
            Ok(io) => io,
            Err(err) => {
                tracing::debug!(origin = %self.uri, error = %err, "cannot connect");
                return Err(ErrorKind::Connect);
            }
        };
        let (mut sender, connection) = match http1::Builder::new().writev(false).handshake(io).await
        {
            Ok(handshake) => handshake,
            Err(err) => {
                tracing::debug!(origin = %self.uri, error = %err, "HTTP/1.1 handshake failed");
                return Err(ErrorKind::Connect);
            }
        };
        let origin = self.uri.clone();
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(%origin, error = %err, "origin connection ended with an error");
            }
        });
        if let Err(err) = sender.ready().await {
            tracing::debug!(origin = %self.uri, error = %err, "new connection closed at once");
            return Err(ErrorKind::Connect);
        }
        Ok(sender)
    }

    fn put(&self, sender: SendRequest<OutBody>, now: Instant) {
        if sender.is_closed() {
            return;
        }
        lock(&self.idle).push(Idle { sender, since: now });
    }
}

// === impl Sending ===

impl Future for Sending {
    type Output = Sent;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Sent> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                SendState::Reused { response, .. } => {
                    let result = ready!(response.as_mut().poll(cx));
                    let SendState::Reused { sender, .. } =
                        std::mem::replace(&mut this.state, SendState::Done)
                    else {
                        unreachable!("the state matched above");
                    };
                    match result {
                        Ok(response) => {
                            let lease = Lease {
                                pool: Arc::clone(&this.pool),
                                sender: Some(sender),
                            };
                            return Poll::Ready(Ok((response, lease)));
                        }
                        Err(mut err) => match err.take_message() {
                            // Turned down before any of it was sent: the connection had just
                            // closed.
                            Some(unsent) => {
                                let retry = Arc::clone(&this.pool).send_slowly(unsent, this.now);
                                this.state = SendState::Other(Box::pin(retry));
                            }
                            None => {
                                tracing::debug!(origin = %this.pool.uri, error = %err.error(), "attempt failed");
                                return Poll::Ready(Err(ErrorKind::Protocol));
                            }
                        },
                    }
                }
                SendState::Other(sent) => return sent.as_mut().poll(cx),
                SendState::Done => panic!("Sending polled after it finished"),
            }
        }
    }
}

// === impl Idle ===

impl Idle {
    fn is_usable(&self, now: Instant) -> bool {
        !self.sender.is_closed() && now.duration_since(self.since) < IDLE_TIMEOUT
    }
}

// === impl Lease ===

impl Lease {
    /// Puts the connection back, idle from `now`.
    pub(crate) fn release(mut self, now: Instant) {
        if let Some(sender) = self.sender.take() {
            self.pool.put(sender, now);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            self.pool.put(sender, Instant::now());
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
