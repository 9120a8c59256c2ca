//! Writes decided events to the store off the controller's path: the controller never waits for
//! a disk, and events keep their decision order because one task appends them all.

use std::sync::Arc;

use lifeline_model::NewEvent;
use lifeline_store::StateStore;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<NewEvent>,
    task: JoinHandle<()>,
}

impl Recorder {
    pub(crate) fn spawn(store: Arc<dyn StateStore>) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<NewEvent>();
        let task = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let kind = event.kind.as_str();
                if let Err(error) = store.append(event).await {
                    tracing::error!(%error, kind, "could not record event");
                }
            }
        });
        Self { tx, task }
    }

    pub(crate) fn record(&self, event: NewEvent) {
        if self.tx.send(event).is_err() {
            tracing::error!("event recorder stopped; event not recorded");
        }
    }

    /// Waits until every event handed over so far is written.
    pub(crate) async fn flush(self) {
        drop(self.tx);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "event recorder failed");
        }
    }
}
