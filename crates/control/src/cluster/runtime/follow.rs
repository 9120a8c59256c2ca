//! The cluster's record in the store, as the other instances see it: read when this instance
//! becomes the leader, and watched while it follows, resumed after a lost stream or a
//! compaction.

use std::sync::Arc;
use std::time::Duration;

use lifeline_store::{Leadership, StateStore, StoreError};
use tokio::sync::mpsc;

use crate::cluster::{ClusterInput, ClusterRecord};

/// How long to wait before reading the store again after it failed.
const RETRY: Duration = Duration::from_millis(500);

/// The record stored under `key` and its version; an unreadable one is logged and read as
/// none (the nodes alone then say who is primary).
pub(super) async fn read_record(
    store: &dyn StateStore,
    key: &str,
) -> Result<Option<(ClusterRecord, u64)>, StoreError> {
    let Some(stored) = store.get(key).await? else {
        return Ok(None);
    };
    match serde_json::from_slice(&stored.value) {
        Ok(record) => Ok(Some((record, stored.version))),
        Err(error) => {
            tracing::error!(key, %error, "stored cluster state unreadable; starting from the nodes alone");
            Ok(None)
        }
    }
}

/// Reads the record for a new leadership, until it is read or the leadership ends, and hands
/// it over with the leadership's token.
pub(super) async fn claim(
    store: Arc<dyn StateStore>,
    key: String,
    leadership: Leadership,
    claims: mpsc::Sender<(u64, ClusterRecord)>,
) {
    while !leadership.is_lost() {
        match read_record(store.as_ref(), &key).await {
            Ok(record) => {
                let record = record.map(|(record, _)| record).unwrap_or_default();
                if claims
                    .send((leadership.fencing_token, record))
                    .await
                    .is_err()
                {
                    tracing::debug!("cluster manager stopped before its claim");
                }
                return;
            }
            Err(error) => {
                tracing::warn!(key, %error, "cannot read the cluster's record to lead");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// Sends every stored version of the record under `key` as [`ClusterInput::Stored`], forever:
/// read, then watched from that version; read again whenever the watch breaks.
pub(super) async fn records(
    store: Arc<dyn StateStore>,
    key: String,
    inputs: mpsc::Sender<ClusterInput>,
) {
    loop {
        match watch_once(store.as_ref(), &key, &inputs).await {
            Ok(()) => return,
            Err(error) => {
                tracing::debug!(key, %error, "watch of the cluster's record broke; reading again");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

/// One read and the watch after it. `Ok` once the manager is gone.
async fn watch_once(
    store: &dyn StateStore,
    key: &str,
    inputs: &mpsc::Sender<ClusterInput>,
) -> Result<(), StoreError> {
    let (record, version) = read_record(store, key).await?.unwrap_or_default();
    if inputs.send(ClusterInput::Stored(record)).await.is_err() {
        return Ok(());
    }
    let mut changes = store.watch_from(key, version).await?;
    let mut next = changes.next().await;
    if let Some(Err(StoreError::Compacted { .. })) = next {
        // The store has no history back to that version (the embedded store keeps none):
        // watch from now, then read again, so no change falls between the two.
        changes = store.watch(key);
        let (record, _) = read_record(store, key).await?.unwrap_or_default();
        if inputs.send(ClusterInput::Stored(record)).await.is_err() {
            return Ok(());
        }
        next = changes.next().await;
    }
    while let Some(change) = next {
        let change = change?;
        // The watch is by prefix: `clusters/main` also matches `clusters/main2`.
        if let Some(value) = change.value.filter(|_| change.key == key) {
            match serde_json::from_slice(&value) {
                Ok(record) => {
                    if inputs.send(ClusterInput::Stored(record)).await.is_err() {
                        return Ok(());
                    }
                }
                Err(error) => {
                    tracing::error!(key, %error, "stored cluster state unreadable; keeping the last one");
                }
            }
        }
        next = changes.next().await;
    }
    Err(StoreError::Unavailable {
        operation: "watch",
        cause: "the watch ended".to_string(),
    })
}
