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

use crate::error::StoreError;
use crate::store::{CasOutcome, Leadership, StateStore, Versioned};
use crate::watch::Watch;
use file::StateFile;

/// A [`StateStore`] in a local file, for a single Lifeline instance.
pub struct EmbeddedStore {
    file: Arc<StateFile>,
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
            file.write_key(&key, expected, Some(value))
        })
        .await
    }

    async fn delete(&self, key: &str, expected: u64) -> Result<CasOutcome, StoreError> {
        let key = key.to_owned();
        self.run("delete", move |file| {
            file.write_key(&key, Some(expected), None)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let prefix = prefix.to_owned();
        self.run("list", move |file| file.list(&prefix)).await
    }

    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError> {
        let candidate = candidate.to_owned();
        let leadership = self
            .run("campaign", move |file| file.campaign(&candidate))
            .await?;
        tracing::info!(
            candidate = %leadership.candidate,
            fencing_token = leadership.fencing_token,
            "became leader"
        );
        Ok(leadership)
    }

    fn watch(&self, prefix: &str) -> Watch {
        Watch::new(prefix, self.file.subscribe())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.run("ping", StateFile::ping).await
    }
}
