//! The embedded, single-instance store: one local redb file.
//!
//! redb is pure Rust (no C toolchain), crash-safe (fsync'd commits) and takes an exclusive lock on
//! the file, so two daemons can never share one state file. Its calls block, so every operation
//! runs in `spawn_blocking` on a shared handle.

mod file;
mod open;
#[cfg(test)]
mod open_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use lifeline_model::{Event, NewEvent, Timestamp};

use tokio::sync::watch;

use crate::error::StoreError;
use crate::leadership::Leadership;
use crate::store::{CasOutcome, StateStore, Versioned, Write};
use crate::watch::Watch;
use file::{Expect, StateFile};

/// A [`StateStore`] in a local file, for a single Lifeline instance.
pub struct EmbeddedStore {
    file: Arc<StateFile>,
    /// Never set: one process owns the file, so its leadership lasts as long as the store. The
    /// receivers see the channel close when the store is dropped.
    leader: watch::Sender<bool>,
}

// === impl EmbeddedStore ===

impl EmbeddedStore {
    /// Opens the state file at `path`, creating it and its parent directories if no file is
    /// there.
    ///
    /// Blocks on disk I/O and reads the whole file to check it; call it at startup. Fails with
    /// [`StoreError::Locked`] while another process (or another handle in this one) has the file
    /// open, and with [`StoreError::Empty`] or [`StoreError::Damaged`] for a file that exists
    /// but holds no usable store.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let file = StateFile::open(path)?;
        tracing::debug!(path = %path.display(), "opened state file");
        Ok(Self {
            file: Arc::new(file),
            leader: watch::Sender::new(false),
        })
    }

    /// Starts over with an empty store at `path`: the file there, whatever its state, is first
    /// moved aside to `<path>.reset-<unix seconds of now>`, which is returned (`None` when there
    /// was no file). A file in use by another process is refused and left where it is.
    pub fn reset(path: &Path, now: Timestamp) -> Result<(Self, Option<PathBuf>), StoreError> {
        let aside = open::move_aside(path, now)?;
        Ok((Self::open(path)?, aside))
    }

    /// Runs blocking work on the file off the async runtime.
    async fn run<T, F>(&self, operation: &'static str, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&StateFile) -> Result<T, StoreError> + Send + 'static,
    {
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || work(&file))
            .await
            .map_err(|source| StoreError::Task { operation, source })?
    }
}

#[async_trait]
impl StateStore for EmbeddedStore {
    async fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.run("append", move |file| file.append(event)).await
    }

    async fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run("events_since", move |file| file.events_since(after, limit))
            .await
    }

    async fn latest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run("latest_events", move |file| file.latest_events(limit))
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let key = key.to_owned();
        self.run("get", move |file| file.get(&key)).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<CasOutcome, StoreError> {
        let key = key.to_owned();
        self.run("compare_and_swap", move |file| {
            file.write_key(&key, Expect::Version(expected), Some(value), None, false)
        })
        .await
    }

    async fn delete(&self, key: &str, expected: u64) -> Result<CasOutcome, StoreError> {
        let key = key.to_owned();
        self.run("delete", move |file| {
            file.write_key(&key, Expect::Version(Some(expected)), None, None, false)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let prefix = prefix.to_owned();
        self.run("list", move |file| file.list(&prefix)).await
    }

    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError> {
        let fencing_token = self.run("campaign", StateFile::campaign).await?;
        let leadership = Leadership::new(fencing_token, candidate, self.leader.subscribe());
        tracing::info!(
            candidate = %leadership.candidate,
            fencing_token = leadership.fencing_token,
            "became leader"
        );
        Ok(leadership)
    }

    async fn resign(&self, _leadership: &Leadership) -> Result<(), StoreError> {
        Ok(())
    }

    async fn guarded(
        &self,
        leadership: &Leadership,
        write: Write,
    ) -> Result<CasOutcome, StoreError> {
        let guard = Some(leadership.fencing_token);
        self.run("guarded", move |file| match write {
            Write::Cas {
                key,
                expected,
                value,
            } => file.write_key(&key, Expect::Version(expected), Some(value), guard, false),
            Write::Put { key, value } => {
                file.write_key(&key, Expect::Any, Some(value), guard, false)
            }
            Write::Delete { key, expected } => {
                file.write_key(&key, Expect::Version(Some(expected)), None, guard, false)
            }
        })
        .await
    }

    async fn put_leased(&self, key: &str, value: Vec<u8>) -> Result<u64, StoreError> {
        let key = key.to_owned();
        let outcome = self
            .run("put_leased", move |file| {
                file.write_key(&key, Expect::Any, Some(value), None, true)
            })
            .await?;
        match outcome {
            CasOutcome::Written { version } => Ok(version),
            CasOutcome::Conflict { .. } => unreachable!("a write that expects anything conflicts"),
        }
    }

    async fn watch(&self, prefix: &str) -> Watch {
        Watch::local(prefix, self.file.subscribe())
    }

    async fn watch_from(&self, prefix: &str, after: u64) -> Result<Watch, StoreError> {
        let subscribed = self
            .run("watch_from", move |file| file.subscribe_after(after))
            .await;
        match subscribed {
            Ok(changes) => Ok(Watch::local(prefix, changes)),
            Err(compacted @ StoreError::Compacted { .. }) => Ok(Watch::failed(compacted)),
            Err(error) => Err(error),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", StateFile::ping).await
    }
}
