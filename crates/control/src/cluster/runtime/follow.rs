//! The cluster's record in the store, as the other instances see it: read when this instance
//! becomes the leader, and followed while it follows.

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

/// Sends every stored version of the record under `key` as [`ClusterInput::Stored`], for as
/// long as the manager runs.
pub(super) async fn records(
    store: Arc<dyn StateStore>,
    key: String,
    inputs: mpsc::Sender<ClusterInput>,
) {
    let mut snapshots = lifeline_store::follow(store, &key);
    while let Some(snapshot) = snapshots.recv().await {
        // The prefix `clusters/main` also holds `clusters/main2`.
        let stored = snapshot.entries.into_iter().find(|(k, _)| *k == key);
        let record = match stored.map(|(_, v)| serde_json::from_slice(&v.value)) {
            None => ClusterRecord::default(),
            Some(Ok(record)) => record,
            Some(Err(error)) => {
                tracing::error!(key, %error, "stored cluster state unreadable; keeping the last one");
                continue;
            }
        };
        if inputs.send(ClusterInput::Stored(record)).await.is_err() {
            return;
        }
    }
}
