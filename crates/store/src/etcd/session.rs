//! This instance's lease: granted at start, kept alive by a task, and declared lost when it
//! cannot be refreshed before it expires.
//!
//! etcd-client neither reopens a broken keep-alive stream nor tells anyone the lease is gone, so
//! the task does both: it reopens the stream until the lease's deadline (measured from when the
//! last refresh was sent, so it never outlives the server's view), then marks the lease lost,
//! which ends every leadership won on it, and grants a new one.

use std::time::Duration;

use etcd_client::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout_at};

use super::call::bounded;
use crate::error::StoreError;

/// Pause between attempts while etcd does not answer.
const RETRY: Duration = Duration::from_millis(200);

/// One granted lease.
#[derive(Clone, Debug)]
pub(super) struct Lease {
    pub(super) id: i64,
    /// Becomes `true` when the lease is lost.
    pub(super) lost: watch::Receiver<bool>,
}

/// The lease of one store, refreshed by a background task that ends with the store.
pub(super) struct Session {
    current: watch::Receiver<Option<Lease>>,
    task: JoinHandle<()>,
}

// === impl Session ===

impl Session {
    pub(super) fn start(client: Client, ttl: Duration, call_timeout: Duration) -> Self {
        let (current_tx, current) = watch::channel(None);
        let task = tokio::spawn(run(client, ttl, call_timeout, current_tx));
        Self { current, task }
    }

    /// The live lease, waiting up to `timeout` while a new one is being granted.
    pub(super) async fn lease(&self, timeout: Duration) -> Result<Lease, StoreError> {
        let mut current = self.current.clone();
        let waited = tokio::time::timeout(timeout, current.wait_for(Option::is_some)).await;
        match waited {
            Ok(Ok(lease)) => Ok(lease.clone().expect("waited for a lease")),
            Ok(Err(_)) | Err(_) => Err(StoreError::Unavailable {
                operation: "lease",
                cause: format!("no live lease within {timeout:?}"),
            }),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Stops the refreshes: the lease, and every key and leadership on it, expires a TTL
        // later, as when the process dies.
        self.task.abort();
    }
}

async fn run(
    client: Client,
    ttl: Duration,
    call_timeout: Duration,
    current: watch::Sender<Option<Lease>>,
) {
    let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
    loop {
        let sent = Instant::now();
        let mut lease_client = client.lease_client();
        let granted = bounded(
            "lease grant",
            call_timeout,
            lease_client.grant(seconds, None),
        )
        .await;
        let granted = match granted {
            Ok(granted) => granted,
            Err(error) => {
                tracing::warn!(%error, "cannot grant a lease; trying again");
                sleep(RETRY).await;
                continue;
            }
        };
        // etcd may raise a TTL below its minimum; the granted one is what counts.
        let granted_ttl = Duration::from_secs(u64::try_from(granted.ttl()).unwrap_or(1));
        let (lost_tx, lost) = watch::channel(false);
        let id = granted.id();
        current.send_replace(Some(Lease { id, lost }));
        tracing::debug!(lease = id, ttl = ?granted_ttl, "granted a lease");
        keep(&client, id, granted_ttl, sent + granted_ttl).await;
        current.send_replace(None);
        lost_tx.send_replace(true);
        tracing::warn!(
            lease = id,
            "lease lost: it could not be refreshed before it expired"
        );
    }
}

/// Refreshes lease `id` every third of its TTL, reopening the stream after errors, and returns
/// once the lease is gone: its deadline passed without a refresh, or etcd says it expired.
async fn keep(client: &Client, id: i64, ttl: Duration, mut deadline: Instant) {
    let interval = ttl / 3;
    loop {
        let sent = Instant::now();
        let mut lease_client = client.lease_client();
        // `keep_alive` sends the first refresh and waits for its answer.
        let (mut keeper, mut stream) = match timeout_at(deadline, lease_client.keep_alive(id)).await
        {
            Err(_) => return,
            Ok(Err(etcd_client::Error::LeaseKeepAliveError(error))) => {
                tracing::warn!(lease = id, %error, "etcd no longer has the lease");
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(lease = id, %error, "cannot refresh the lease; trying again");
                if timeout_at(deadline, sleep(RETRY)).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Ok(opened)) => opened,
        };
        deadline = sent + ttl;
        loop {
            if timeout_at(deadline, sleep(interval)).await.is_err() {
                return;
            }
            let sent = Instant::now();
            if let Err(error) = keeper.keep_alive().await {
                tracing::warn!(lease = id, %error, "lease refresh stream broke; reopening");
                break;
            }
            match timeout_at(deadline, stream.message()).await {
                Err(_) => return,
                Ok(Ok(Some(answer))) if answer.ttl() > 0 => deadline = sent + ttl,
                Ok(Ok(Some(_))) => {
                    tracing::warn!(lease = id, "etcd says the lease has expired");
                    return;
                }
                Ok(Ok(None)) => {
                    tracing::warn!(lease = id, "lease refresh stream ended; reopening");
                    break;
                }
                Ok(Err(error)) => {
                    tracing::warn!(lease = id, %error, "lease refresh failed; reopening");
                    break;
                }
            }
        }
    }
}
