//! Following a prefix: every key under it, as a whole, each time one of them changes. Read,
//! then watched from what was read, and read again whenever the watch breaks (a lost stream,
//! a compaction, a store that does not answer), so a follower ends up with what is stored.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::store::{StateStore, Versioned};

/// How long to wait before reading again after the store failed.
const RETRY: Duration = Duration::from_millis(500);

/// The keys under a prefix with their values, in key order, read at revision `as_of` or later:
/// a write of version `as_of` or older is in it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub entries: Vec<(String, Versioned)>,
    pub as_of: u64,
}

impl Snapshot {
    /// What was listed after seeing the change of version `seen` (0: none).
    fn listed(entries: Vec<(String, Versioned)>, seen: u64) -> Self {
        let newest = entries.iter().map(|(_, v)| v.version).max().unwrap_or(0);
        Self {
            entries,
            as_of: newest.max(seen),
        }
    }
}

/// Sends the keys under `prefix` now and after every change to them, until the receiver is
/// dropped. A snapshot can repeat the one before it.
pub fn follow(store: Arc<dyn StateStore>, prefix: &str) -> mpsc::Receiver<Snapshot> {
    let (snapshots, receiver) = mpsc::channel(16);
    let prefix = prefix.to_owned();
    tokio::spawn(async move {
        let run = async {
            loop {
                match follow_once(store.as_ref(), &prefix, &snapshots).await {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::debug!(prefix, %error, "following the store broke; reading again");
                        tokio::time::sleep(RETRY).await;
                    }
                }
            }
        };
        tokio::select! {
            () = run => {}
            () = snapshots.closed() => {}
        }
    });
    receiver
}

/// One read and the watch after it; `Ok` once nobody listens.
async fn follow_once(
    store: &dyn StateStore,
    prefix: &str,
    snapshots: &mpsc::Sender<Snapshot>,
) -> Result<(), StoreError> {
    let listed = Snapshot::listed(store.list(prefix).await?, 0);
    let after = listed.as_of;
    if snapshots.send(listed).await.is_err() {
        return Ok(());
    }
    let mut changes = store.watch_from(prefix, after).await?;
    let mut next = changes.next().await;
    if let Some(Err(StoreError::Compacted { .. })) = next {
        // No history back to what was read (the embedded store keeps none): watch from now,
        // then read again, so no change falls between the two.
        changes = store.watch(prefix).await;
        let listed = Snapshot::listed(store.list(prefix).await?, 0);
        if snapshots.send(listed).await.is_err() {
            return Ok(());
        }
        next = changes.next().await;
    }
    while let Some(change) = next {
        let seen = change?.version;
        let listed = Snapshot::listed(store.list(prefix).await?, seen);
        if snapshots.send(listed).await.is_err() {
            return Ok(());
        }
        next = changes.next().await;
    }
    Err(StoreError::Unavailable {
        operation: "watch",
        cause: "the watch ended".to_string(),
    })
}
