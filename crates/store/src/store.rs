//! The `StateStore` trait and the plain values it trades in.
//!
//! The trait is shaped after etcd, the most demanding backend: versions are store-wide revisions
//! (like etcd's `mod_revision`), writes are compare-and-swap on them, leadership comes with a
//! fencing token, and changes can be watched by prefix. The embedded store implements the same
//! contract on one machine, so callers never know which backend they talk to.

use async_trait::async_trait;
use lifeline_model::{Event, NewEvent};

use crate::error::StoreError;
use crate::watch::Watch;

/// Durable state shared by the controller, the admin API and, later, several Lifeline instances.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// Appends an event, assigning the next sequence number (1, 2, 3, ... never reused, survives
    /// restarts).
    async fn append(&self, event: NewEvent) -> Result<Event, StoreError>;

    /// Events with `seq > after`, oldest first, at most `limit`.
    async fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// The newest `limit` events, oldest first (for `GET /events` without `since`).
    async fn latest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError>;

    /// A versioned key (manual overrides, cluster state, ...). `None` if absent.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes `value` only if the key's current version is `expected` (`None`: the key must not
    /// exist). Returns the new version, or `Conflict` with what is there now.
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<CasOutcome, StoreError>;

    /// Deletes a key if its version is `expected`. A missing key is a `Conflict` with
    /// `current: None`.
    async fn delete(&self, key: &str, expected: u64) -> Result<CasOutcome, StoreError>;

    /// Keys under a prefix with their values, in key order.
    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError>;

    /// Becomes the one instance allowed to act. The embedded store resolves at once (its file
    /// lock already guarantees a single instance) with a fencing token that grows by one on every
    /// campaign and is persisted, so a restarted daemon's token is always larger.
    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError>;

    /// Changes to keys under `prefix` made through this store from now on.
    fn watch(&self, prefix: &str) -> Watch;

    /// A cheap round-trip proving the store can be read and written (for `GET /health`).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A key's value and the revision that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    pub value: Vec<u8>,
    /// Store-wide revision of the last write to this key. Revisions only grow and are never
    /// reused, so a key deleted and created again never matches an old version.
    pub version: u64,
}

/// The result of a conditional write or delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CasOutcome {
    /// The change was applied. `version` is the key's new version; for a delete, the revision
    /// at which the key was removed.
    Written { version: u64 },
    /// The expected version did not match; nothing changed. `current` is what is stored now
    /// (`None`: the key does not exist).
    Conflict { current: Option<Versioned> },
}

/// Proof of being the instance allowed to act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leadership {
    /// Grows with every successful campaign. Actions carry it so that whatever they touch can
    /// refuse a stale leader.
    pub fencing_token: u64,
    pub candidate: String,
}
