//! The `StateStore` trait and the plain values it trades in.
//!
//! The trait is shaped after etcd, the most demanding backend: versions are store-wide revisions
//! (like etcd's `mod_revision`), writes are compare-and-swap on them, leadership comes with a
//! fencing token, and changes can be watched by prefix. The embedded store implements the same
//! contract on one machine, so callers never know which backend they talk to.

use async_trait::async_trait;
use lifeline_model::{Event, NewEvent};

use crate::error::StoreError;
use crate::leadership::Leadership;
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

    /// Becomes the one instance allowed to act, waiting while another instance leads. The
    /// fencing token grows with every new leader. The embedded store resolves at once (its file
    /// lock already guarantees a single instance) with a token that grows by one on every
    /// campaign and is persisted, and its leadership is never lost while the store is open. On
    /// etcd the leadership lives on this instance's lease and is lost when the lease cannot be
    /// refreshed before it expires.
    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError>;

    /// Gives the leadership up at once, so another instance can win without waiting for the
    /// lease to expire (a clean stop). A leadership that no longer holds is left alone. The
    /// embedded store has no other instance to hand over to: nothing to do.
    async fn resign(&self, leadership: &Leadership) -> Result<(), StoreError>;

    /// Applies `write` only while `leadership` still holds, in one transaction with the check:
    /// a deposed leader's write fails with [`StoreError::NotLeader`] and changes nothing.
    async fn guarded(
        &self,
        leadership: &Leadership,
        write: Write,
    ) -> Result<CasOutcome, StoreError>;

    /// Writes a key that lives only as long as this instance: it goes away when the instance
    /// dies (etcd: with its lease; embedded: at the next open of the state file). Returns the
    /// key's new version.
    async fn put_leased(&self, key: &str, value: Vec<u8>) -> Result<u64, StoreError>;

    /// Changes to keys under `prefix` made after this returns (etcd: after the revision it
    /// reads first, so a change made right after is never missed). A store that does not
    /// answer gives a watch whose one item is the error.
    async fn watch(&self, prefix: &str) -> Watch;

    /// Changes to keys under `prefix` with a version above `after` (a version from `get` or
    /// `list`), so nothing between a read and the watch is missed. When the store no longer has
    /// the changes since `after`, the watch's first item is [`StoreError::Compacted`]: the
    /// embedded store keeps no history, so there only the current revision can be watched from.
    /// An error here is the store being unreachable.
    async fn watch_from(&self, prefix: &str, after: u64) -> Result<Watch, StoreError>;

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

/// A write for [`StateStore::guarded`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Like [`StateStore::compare_and_swap`].
    Cas {
        key: String,
        expected: Option<u64>,
        value: Vec<u8>,
    },
    /// Writes whatever is there.
    Put { key: String, value: Vec<u8> },
    /// Like [`StateStore::delete`].
    Delete { key: String, expected: u64 },
}
