//! Shared health in the store: each instance's view under `health/views/<instance>` on its
//! lease (so a dead instance's view goes with it), and the leader's decisions under
//! `health/decided`, written guarded by its leadership. Only changes are written, and a value
//! superseded while the write before it was under way is never written: a hundred origins going
//! down in one second cost a few writes, not a hundred.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{Health, InstanceName};
use lifeline_store::{Leadership, StateStore, StoreError, Write};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// Where the instances' views live, one key per instance.
pub(crate) const VIEWS_PREFIX: &str = "health/views/";
/// Where the leader's decisions live.
pub(crate) const DECIDED_KEY: &str = "health/decided";

/// How often a written view is checked for (it goes when the lease is lost), and how long a
/// failed write waits before the next try.
const RECHECK: Duration = Duration::from_secs(1);

/// What one instance sees of each origin.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct View {
    pub origins: BTreeMap<String, Seen>,
}

/// One origin's health at an address, as one instance sees it or the leader decided it: an
/// instance whose config has the origin at another address (mid-rollout of a reload) neither
/// counts nor takes it up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Seen {
    pub health: Health,
    pub address: String,
}

/// The leader's decision on each origin, when it made it (milliseconds since the epoch: the
/// followers measure how long it took to reach them) and under which fencing token.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Decided {
    pub at: u64,
    pub fencing_token: u64,
    pub origins: BTreeMap<String, Seen>,
}

pub(crate) fn view_key(instance: &InstanceName) -> String {
    format!("{VIEWS_PREFIX}{instance}")
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("maps of names to health always serialize")
}

pub(crate) fn decode<T: for<'a> Deserialize<'a>>(key: &str, bytes: &[u8]) -> Option<T> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(key, %error, "ignoring a shared health entry this version cannot read");
            None
        }
    }
}

/// Writes the newest value sent to it under `key` on this instance's lease, and writes it again
/// when the key went with a lost lease.
pub(crate) fn spawn_view_writer(
    store: Arc<dyn StateStore>,
    key: String,
) -> watch::Sender<Option<Vec<u8>>> {
    let (sender, mut latest) = watch::channel::<Option<Vec<u8>>>(None);
    tokio::spawn(async move {
        let mut recheck = tokio::time::interval(RECHECK);
        let mut stored = false;
        loop {
            tokio::select! {
                changed = latest.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    stored = false;
                }
                _ = recheck.tick() => {
                    // Gone with a lost lease: write it again. A store that does not answer
                    // cannot tell; ask again later.
                    if stored && matches!(store.get(&key).await, Ok(None)) {
                        stored = false;
                    }
                }
            }
            let Some(value) = latest.borrow_and_update().clone().filter(|_| !stored) else {
                continue;
            };
            match store.put_leased(&key, value).await {
                Ok(_) => stored = true,
                Err(error) => tracing::debug!(key, %error, "cannot share this instance's view yet"),
            }
        }
    });
    sender
}

/// Writes the newest decisions sent to it, each only while the leadership it was made under
/// holds: a deposed leader's decisions are refused by the store.
pub(crate) fn spawn_decided_writer(
    store: Arc<dyn StateStore>,
) -> watch::Sender<Option<(Leadership, Vec<u8>)>> {
    let (sender, mut latest) = watch::channel::<Option<(Leadership, Vec<u8>)>>(None);
    tokio::spawn(async move {
        while latest.changed().await.is_ok() {
            loop {
                let Some((leadership, value)) = latest.borrow_and_update().clone() else {
                    break;
                };
                let write = Write::Put {
                    key: DECIDED_KEY.to_string(),
                    value,
                };
                match store.guarded(&leadership, write).await {
                    Ok(_) => break,
                    Err(StoreError::NotLeader { .. }) => {
                        tracing::info!(
                            fencing_token = leadership.fencing_token,
                            "health decisions not shared: the leadership they were made under is gone"
                        );
                        break;
                    }
                    Err(error) => {
                        tracing::debug!(%error, "cannot share health decisions yet; trying again");
                        // A newer decision replaces this one; otherwise try this one again.
                        if let Ok(Err(_)) = tokio::time::timeout(RECHECK, latest.changed()).await {
                            return;
                        }
                    }
                }
            }
        }
    });
    sender
}
