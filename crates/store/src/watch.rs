//! Subscriptions to key changes, filtered by prefix.
//!
//! Every backend feeds one broadcast channel of [`KeyChange`]s; a [`Watch`] keeps the ones under
//! its prefix. A watcher that falls behind skips what it missed (and logs it) rather than
//! slowing down writers.

use tokio::sync::broadcast::{self, error::RecvError};

/// One committed change to a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChange {
    pub key: String,
    /// The new value, `None` when the key was deleted.
    pub value: Option<Vec<u8>>,
    /// The revision of this change.
    pub version: u64,
}

/// Changes to keys under one prefix, in commit order.
#[derive(Debug)]
pub struct Watch {
    prefix: String,
    changes: broadcast::Receiver<KeyChange>,
}

// === impl Watch ===

impl Watch {
    pub(crate) fn new(prefix: &str, changes: broadcast::Receiver<KeyChange>) -> Self {
        Self {
            prefix: prefix.to_owned(),
            changes,
        }
    }

    /// The next change under the prefix, or `None` once the store is gone.
    pub async fn next(&mut self) -> Option<KeyChange> {
        loop {
            match self.changes.recv().await {
                Ok(change) if change.key.starts_with(&self.prefix) => return Some(change),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(prefix = %self.prefix, missed, "watch fell behind; skipping ahead");
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
