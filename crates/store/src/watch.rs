//! Subscriptions to key changes, filtered by prefix.
//!
//! The embedded backend feeds one broadcast channel of [`KeyChange`]s and a [`Watch`] keeps the
//! ones under its prefix (a watcher that falls behind skips what it missed and logs it rather
//! than slowing down writers). The etcd backend runs one task per watch that resumes a lost
//! stream from the last revision it saw and reports [`StoreError::Compacted`] when that revision
//! is gone.

use tokio::sync::{broadcast, mpsc};

use crate::error::StoreError;

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
    source: Source,
}

#[derive(Debug)]
enum Source {
    Local {
        prefix: String,
        changes: broadcast::Receiver<KeyChange>,
    },
    Remote(mpsc::Receiver<Result<KeyChange, StoreError>>),
    /// A watch that could not start: its one item is the error.
    Failed(Option<StoreError>),
}

// === impl Watch ===

impl Watch {
    pub(crate) fn local(prefix: &str, changes: broadcast::Receiver<KeyChange>) -> Self {
        let prefix = prefix.to_owned();
        Self {
            source: Source::Local { prefix, changes },
        }
    }

    pub(crate) fn remote(changes: mpsc::Receiver<Result<KeyChange, StoreError>>) -> Self {
        Self {
            source: Source::Remote(changes),
        }
    }

    pub(crate) fn failed(error: StoreError) -> Self {
        Self {
            source: Source::Failed(Some(error)),
        }
    }

    /// The next change under the prefix, or `None` once the store is gone. An error (the
    /// revision to resume from was compacted) ends the watch: list the keys again and watch from
    /// the list's revision.
    pub async fn next(&mut self) -> Option<Result<KeyChange, StoreError>> {
        match &mut self.source {
            Source::Local { prefix, changes } => next_local(prefix, changes).await.map(Ok),
            Source::Remote(changes) => changes.recv().await,
            Source::Failed(error) => error.take().map(Err),
        }
    }
}

async fn next_local(
    prefix: &str,
    changes: &mut broadcast::Receiver<KeyChange>,
) -> Option<KeyChange> {
    use broadcast::error::RecvError;
    loop {
        match changes.recv().await {
            Ok(change) if change.key.starts_with(prefix) => return Some(change),
            Ok(_) => {}
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(prefix, missed, "watch fell behind; skipping ahead");
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
