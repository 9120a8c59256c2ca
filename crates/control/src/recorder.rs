//! Writes decided events and overrides to the store off the controller's path: the controller
//! never waits for a disk, and writes keep their decision order because one task does them all.
//! A leader's state is written guarded by its leadership, so a deposed leader changes nothing.

use std::sync::Arc;

use lifeline_model::NewEvent;
use lifeline_store::{CasOutcome, Leadership, StateStore, StoreError};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Whether a guarded write went through; `Err` says why not, for people.
pub(crate) type Granted = oneshot::Receiver<Result<(), String>>;

enum Write {
    Event(NewEvent),
    /// Set a key (or delete it with `None`) whatever its current version.
    Put {
        key: String,
        value: Option<Vec<u8>>,
        /// Told the version the write made (0 if it made none).
        stored: Option<mpsc::UnboundedSender<u64>>,
    },
    /// Set a key only while `leadership` holds, and say whether it did.
    Guarded {
        leadership: Leadership,
        key: String,
        value: Vec<u8>,
        reply: Option<oneshot::Sender<Result<(), String>>>,
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
                    Write::Put { key, value, stored } => {
                        let version = match put(store.as_ref(), &key, value).await {
                            Ok(version) => version,
                            Err(error) => {
                                tracing::error!(%error, key, "could not store override");
                                0
                            }
                        };
                        if let Some(stored) = stored
                            && stored.send(version).is_err()
                        {
                            tracing::debug!("nobody waits for the stored version");
                        }
                    }
                    Write::Guarded {
                        leadership,
                        key,
                        value,
                        reply,
                    } => {
                        let write = lifeline_store::Write::Put {
                            key: key.clone(),
                            value,
                        };
                        let outcome = store.guarded(&leadership, write).await.map(drop);
                        if let Err(error) = &outcome {
                            tracing::warn!(%error, key, fencing_token = leadership.fencing_token, "guarded write refused");
                        }
                        if let Some(reply) = reply
                            && reply.send(outcome.map_err(|e| e.to_string())).is_err()
                        {
                            tracing::debug!("the guarded write's requester went away");
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
        self.send(Write::Put {
            key,
            value,
            stored: None,
        });
    }

    /// Like [`put`](Self::put), and sends the version the write made to `stored` once done.
    pub(crate) fn put_reporting(
        &self,
        key: String,
        value: Option<Vec<u8>>,
        stored: mpsc::UnboundedSender<u64>,
    ) {
        self.send(Write::Put {
            key,
            value,
            stored: Some(stored),
        });
    }

    /// Sets `key` to `value` if `leadership` still holds when the write is made.
    pub(crate) fn put_guarded(&self, leadership: Leadership, key: String, value: Vec<u8>) {
        self.send(Write::Guarded {
            leadership,
            key,
            value,
            reply: None,
        });
    }

    /// Like [`put_guarded`](Self::put_guarded), after every write handed over before it, and
    /// answers whether it went through: what may only be done while leading waits for it.
    pub(crate) fn grant(&self, leadership: Leadership, key: String, value: Vec<u8>) -> Granted {
        let (reply, granted) = oneshot::channel();
        self.send(Write::Guarded {
            leadership,
            key,
            value,
            reply: Some(reply),
        });
        granted
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

/// Sets or deletes `key` whatever version it has, and returns the version written (0: none). A
/// conflict only means the version moved under us (another instance wrote it): read it again
/// and retry.
async fn put(store: &dyn StateStore, key: &str, value: Option<Vec<u8>>) -> Result<u64, StoreError> {
    for _ in 0..3 {
        let current = store.get(key).await?.map(|v| v.version);
        let outcome = match (&value, current) {
            (Some(value), expected) => store.compare_and_swap(key, expected, value.clone()).await?,
            (None, Some(version)) => store.delete(key, version).await?,
            (None, None) => return Ok(0),
        };
        if let CasOutcome::Written { version } = outcome {
            return Ok(version);
        }
    }
    tracing::warn!(key, "override kept changing under us; gave up");
    Ok(0)
}
