//! The outbox: notifications waiting for their receiver, kept in the store so that they
//! survive a restart and a change of leader, and leave it only once delivered (at least once).
//! Also the set of firing alerts, so that a new leader (or a restarted daemon) resolves what
//! its predecessor fired.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use lifeline_store::{CasOutcome, StateStore, StoreError};

use super::alert::{Firing, Notification};

const OUTBOX: &str = "outbox/";
const FIRING: &str = "alerts/firing";

/// Makes keys of one instance unique within a millisecond.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Adds `notification` behind every other of its receiver's.
pub async fn enqueue(
    store: &dyn StateStore,
    notification: &Notification,
) -> Result<(), StoreError> {
    let value = serde_json::to_vec(notification).expect("a notification serializes");
    loop {
        let key = format!(
            "{OUTBOX}{}/{:020}-{:010}",
            notification.receiver,
            notification.created_at.as_millis(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        match store.compare_and_swap(&key, None, value.clone()).await? {
            CasOutcome::Written { .. } => return Ok(()),
            CasOutcome::Conflict { .. } => continue,
        }
    }
}

/// An outbox entry: its key and version (to remove it) and what it holds.
pub struct Entry {
    pub key: String,
    pub version: u64,
    pub notification: Notification,
}

/// `receiver`'s waiting notifications, oldest first. An entry that cannot be read (written
/// by a newer Lifeline, say) is skipped, and logged.
pub async fn pending(store: &dyn StateStore, receiver: &str) -> Result<Vec<Entry>, StoreError> {
    let listed = store.list(&format!("{OUTBOX}{receiver}/")).await?;
    Ok(listed
        .into_iter()
        .filter_map(
            |(key, versioned)| match serde_json::from_slice(&versioned.value) {
                Ok(notification) => Some(Entry {
                    key,
                    version: versioned.version,
                    notification,
                }),
                Err(error) => {
                    tracing::warn!(key, %error, "an outbox entry cannot be read: skipped");
                    None
                }
            },
        )
        .collect())
}

/// Takes a delivered entry out.
pub async fn remove(store: &dyn StateStore, entry: &Entry) -> Result<(), StoreError> {
    store.delete(&entry.key, entry.version).await.map(|_| ())
}

/// The firing alerts by fingerprint, as last stored, and the version to write over.
pub async fn load_firing(
    store: &dyn StateStore,
) -> Result<(BTreeMap<String, Firing>, Option<u64>), StoreError> {
    Ok(match store.get(FIRING).await? {
        Some(versioned) => (
            serde_json::from_slice(&versioned.value).unwrap_or_default(),
            Some(versioned.version),
        ),
        None => (BTreeMap::new(), None),
    })
}

/// Stores the firing alerts over `version`; returns the new version.
pub async fn store_firing(
    store: &dyn StateStore,
    firing: &BTreeMap<String, Firing>,
    version: Option<u64>,
) -> Result<Option<u64>, StoreError> {
    let value = serde_json::to_vec(firing).expect("alerts serialize");
    let mut expected = version;
    loop {
        match store
            .compare_and_swap(FIRING, expected, value.clone())
            .await?
        {
            CasOutcome::Written { version } => return Ok(Some(version)),
            // Written by an earlier leader meanwhile: this leader's view is the newer one.
            CasOutcome::Conflict { current } => expected = current.map(|c| c.version),
        }
    }
}
