//! Watches on etcd that survive a lost stream.
//!
//! etcd-client does not reopen a watch whose stream broke (etcd restarted, connection lost), so
//! one task per watch does: it remembers the revision after the last change it passed on and
//! reopens from there, so nothing is missed or repeated. When etcd has compacted that revision
//! away it reports [`StoreError::Compacted`] and ends: the caller reads the keys again.

use std::time::Duration;

use etcd_client::{Client, EventType, WatchOptions, WatchResponse};
use tokio::sync::mpsc;

use super::call::{revision, version};
use super::keys::Keys;
use crate::error::StoreError;
use crate::watch::{KeyChange, Watch};

/// Pause before reopening a broken stream.
const REOPEN: Duration = Duration::from_millis(200);
/// Changes a slow watcher may have waiting before the task waits for it.
const CAPACITY: usize = 256;

/// Watches store keys under `prefix`, with versions above `after`.
pub(super) fn spawn(client: Client, keys: Keys, prefix: &str, after: u64) -> Watch {
    let (changes, receiver) = mpsc::channel(CAPACITY);
    let task = Task {
        client,
        etcd_prefix: keys.key(prefix),
        keys,
        next: after + 1,
        changes,
    };
    tokio::spawn(async move {
        let changes = task.changes.clone();
        tokio::select! {
            () = task.run() => {}
            () = changes.closed() => {}
        }
    });
    Watch::remote(receiver)
}

struct Task {
    client: Client,
    keys: Keys,
    etcd_prefix: String,
    /// The first revision not yet passed on.
    next: u64,
    changes: mpsc::Sender<Result<KeyChange, StoreError>>,
}

/// What one stream ended with.
enum End {
    /// Broken or closed: open another from `next`.
    Lost,
    /// Nothing more will come: compacted, or no one is listening.
    Done,
}

// === impl Task ===

impl Task {
    async fn run(mut self) {
        loop {
            match self.stream().await {
                End::Done => return,
                End::Lost => tokio::time::sleep(REOPEN).await,
            }
        }
    }

    async fn stream(&mut self) -> End {
        let options = WatchOptions::new()
            .with_prefix()
            .with_progress_notify()
            .with_start_revision(revision(self.next));
        let mut watch_client = self.client.watch_client();
        let mut stream = match watch_client
            .watch(self.etcd_prefix.clone(), Some(options))
            .await
        {
            Ok(stream) => stream,
            Err(error) => {
                tracing::debug!(prefix = %self.etcd_prefix, %error, "cannot open a watch; retrying");
                return End::Lost;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(response)) => {
                    if let Some(end) = self.pass_on(response).await {
                        return end;
                    }
                }
                Ok(None) => return End::Lost,
                Err(error) => {
                    tracing::debug!(prefix = %self.etcd_prefix, %error, "watch stream lost; resuming");
                    return End::Lost;
                }
            }
        }
    }

    /// Passes the response's changes on; `Some` when the stream is over.
    async fn pass_on(&mut self, response: WatchResponse) -> Option<End> {
        if response.compact_revision() > 0 {
            let available = version(response.compact_revision());
            let after = self.next.saturating_sub(1);
            let gone = StoreError::Compacted { after, available };
            if self.changes.send(Err(gone)).await.is_err() {
                tracing::trace!("the watcher is gone");
            }
            return Some(End::Done);
        }
        if response.canceled() {
            return Some(End::Lost);
        }
        for event in response.events() {
            let Some(pair) = event.kv() else { continue };
            let etcd_key = String::from_utf8_lossy(pair.key());
            let Some(key) = self.keys.strip(&etcd_key) else {
                continue;
            };
            let value = (event.event_type() == EventType::Put).then(|| pair.value().to_vec());
            let change = KeyChange {
                key: key.to_owned(),
                value,
                version: version(pair.mod_revision()),
            };
            self.next = change.version + 1;
            if self.changes.send(Ok(change)).await.is_err() {
                return Some(End::Done);
            }
        }
        None
    }
}
