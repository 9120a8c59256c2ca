//! Writes decided events and overrides to the store off the controller's path: the controller
//! never waits for a disk, and writes keep their decision order because one task does them all.

use std::sync::Arc;

use lifeline_model::NewEvent;
use lifeline_store::{CasOutcome, StateStore, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

enum Write {
    Event(NewEvent),
    /// Set a key (or delete it with `None`) whatever its current version.
    Put {
        key: String,
        value: Option<Vec<u8>>,
    },
}

pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<Write>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub(crate) fn spawn(store: Arc<dyn StateStore>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Write>();
        let task = tokio::spawn(async move {
            while let Some(write) = rx.recv().await {
                match write {
                    Write::Event(event) => {
                        let kind = event.kind.as_str();
                        if let Err(error) = store.append(event).await {
                            tracing::error!(%error, kind, "could not record event");
                        }
                    }
                    Write::Put { key, value } => {
                        if let Err(error) = put(store.as_ref(), &key, value).await {
                            tracing::error!(%error, key, "could not store override");
                        }
                    }
                }
            }
        });
        Self { tx, task }
    }

    pub(crate) fn record(&self, event: NewEvent) {
        self.send(Write::Event(event));
    }

    pub(crate) fn put(&self, key: String, value: Option<Vec<u8>>) {
        self.send(Write::Put { key, value });
    }

    fn send(&self, write: Write) {
        if self.tx.send(write).is_err() {
            tracing::error!("state recorder stopped; write lost");
        }
    }

    /// Waits until every write handed over so far is done.
    pub(crate) async fn flush(self) {
        drop(self.tx);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "state recorder failed");
        }
    }
}

/// Sets or deletes `key` whatever version it has. This instance is the only writer of these
/// keys, so a conflict only means the version moved under us once: read it again and retry.
async fn put(store: &dyn StateStore, key: &str, value: Option<Vec<u8>>) -> Result<(), StoreError> {
    for _ in 0..3 {
        let current = store.get(key).await?.map(|v| v.version);
        let outcome = match (&value, current) {
            (Some(value), expected) => store.compare_and_swap(key, expected, value.clone()).await?,
            (None, Some(version)) => store.delete(key, version).await?,
            (None, None) => return Ok(()),
        };
        if let CasOutcome::Written { .. } = outcome {
            return Ok(());
        }
    }
    tracing::warn!(key, "override kept changing under us; gave up");
    Ok(())
}
