//! The redb file behind [`super::EmbeddedStore`]: its tables and the blocking transactions on them.
//!
//! Everything here blocks on disk I/O and runs inside `spawn_blocking`. Each operation is one
//! ACID transaction; writes commit with redb's default `Durability::Immediate` (fsync'd) before
//! they return.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use lifeline_model::{Event, NewEvent};
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use tokio::sync::broadcast;

use crate::error::StoreError;
use crate::store::{CasOutcome, Versioned};
use crate::watch::KeyChange;

/// Sequence number -> the event as JSON, so old logs stay readable as events gain fields.
const EVENTS: TableDefinition<u64, &str> = TableDefinition::new("events");
/// Key -> (version, value).
const KEYS: TableDefinition<&str, (u64, &[u8])> = TableDefinition::new("keys");
/// Keys written by `put_leased`: they die with the process, so an open removes them.
const LEASED: TableDefinition<&str, ()> = TableDefinition::new("leased");
/// The store's own counters.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The last revision given to a key write or delete.
const REVISION: &str = "revision";
/// The last fencing token handed out by `campaign`.
const FENCING_TOKEN: &str = "fencing_token";
/// How many pings have written to the file.
const PINGS: &str = "pings";

/// How many key changes a slow watcher may fall behind before it skips ahead.
const WATCH_CAPACITY: usize = 1024;

/// What a key write expects to find.
#[derive(Clone, Copy, Debug)]
pub(super) enum Expect {
    /// The key at this version (`None`: absent).
    Version(Option<u64>),
    /// Anything.
    Any,
}

/// An open state file.
pub(super) struct StateFile {
    db: Database,
    path: PathBuf,
    changes: broadcast::Sender<KeyChange>,
    /// Held across each key write's commit and notification, so watchers see commit order.
    key_writes: Mutex<()>,
}

/// Attaches the state file's path to a redb error.
trait InFile<T> {
    fn in_file(self, path: &Path) -> Result<T, StoreError>;
}

// === impl InFile ===

impl<T, E: Into<redb::Error>> InFile<T> for Result<T, E> {
    fn in_file(self, path: &Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Database {
            path: path.to_owned(),
            source: source.into(),
        })
    }
}

// === impl StateFile ===

impl StateFile {
    /// Opens the file, or creates it (and its directory), and makes sure every table exists.
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let db = super::open::database(path)?;
        let txn = db.begin_write().in_file(path)?;
        txn.open_table(EVENTS).in_file(path)?;
        txn.open_table(KEYS).in_file(path)?;
        txn.open_table(META).in_file(path)?;
        drop_leased(&txn).in_file(path)?;
        txn.commit().in_file(path)?;
        let (changes, _) = broadcast::channel(WATCH_CAPACITY);
        Ok(Self {
            db,
            path: path.to_owned(),
            changes,
            key_writes: Mutex::new(()),
        })
    }

    pub(super) fn subscribe(&self) -> broadcast::Receiver<KeyChange> {
        self.changes.subscribe()
    }

    pub(super) fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        let json = serde_json::to_string(&event).map_err(|source| StoreError::Encode {
            subject: event.subject.clone(),
            source,
        })?;
        let txn = self.begin_write()?;
        let seq = {
            let mut events = txn.open_table(EVENTS).in_file(&self.path)?;
            let last = events.last().in_file(&self.path)?;
            let seq = self.next(last.map_or(0, |(seq, _)| seq.value()), "the event sequence")?;
            events.insert(seq, json.as_str()).in_file(&self.path)?;
            seq
        };
        txn.commit().in_file(&self.path)?;
        Ok(Event { seq, event })
    }

    pub(super) fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        let Some(first) = after.checked_add(1) else {
            return Ok(Vec::new());
        };
        let txn = self.db.begin_read().in_file(&self.path)?;
        let events = txn.open_table(EVENTS).in_file(&self.path)?;
        let range = events.range(first..).in_file(&self.path)?;
        range
            .take(limit)
            .map(|entry| {
                let (seq, json) = entry.in_file(&self.path)?;
                self.decode(seq.value(), json.value())
            })
            .collect()
    }

    pub(super) fn latest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        let txn = self.db.begin_read().in_file(&self.path)?;
        let events = txn.open_table(EVENTS).in_file(&self.path)?;
        let range = events.iter().in_file(&self.path)?;
        let mut newest = range
            .rev()
            .take(limit)
            .map(|entry| {
                let (seq, json) = entry.in_file(&self.path)?;
                self.decode(seq.value(), json.value())
            })
            .collect::<Result<Vec<_>, _>>()?;
        newest.reverse();
        Ok(newest)
    }

    pub(super) fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let txn = self.db.begin_read().in_file(&self.path)?;
        let keys = txn.open_table(KEYS).in_file(&self.path)?;
        let entry = keys.get(key).in_file(&self.path)?;
        Ok(entry.map(|entry| versioned(entry.value())))
    }

    pub(super) fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        let txn = self.db.begin_read().in_file(&self.path)?;
        let keys = txn.open_table(KEYS).in_file(&self.path)?;
        let range = keys.range(prefix..).in_file(&self.path)?;
        let mut found = Vec::new();
        for entry in range {
            let (key, value) = entry.in_file(&self.path)?;
            if !key.value().starts_with(prefix) {
                break;
            }
            found.push((key.value().to_owned(), versioned(value.value())));
        }
        Ok(found)
    }

    /// Writes `value` (or deletes the key when `None`) if its version is as `expected` and,
    /// with a `guard`, while that fencing token is still the last one handed out. A `leased`
    /// key is removed at the next open.
    pub(super) fn write_key(
        &self,
        key: &str,
        expected: Expect,
        value: Option<Vec<u8>>,
        guard: Option<u64>,
        leased: bool,
    ) -> Result<CasOutcome, StoreError> {
        // Guards no data, so a poisoned lock is still usable.
        let _in_order = self
            .key_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let txn = self.begin_write()?;
        let version = {
            let mut meta = txn.open_table(META).in_file(&self.path)?;
            if let Some(fencing_token) = guard {
                let last = meta.get(FENCING_TOKEN).in_file(&self.path)?;
                if last.map(|token| token.value()) != Some(fencing_token) {
                    drop(meta);
                    txn.abort().in_file(&self.path)?;
                    return Err(StoreError::NotLeader { fencing_token });
                }
            }
            let mut keys = txn.open_table(KEYS).in_file(&self.path)?;
            let current = keys
                .get(key)
                .in_file(&self.path)?
                .map(|entry| versioned(entry.value()));
            if let Expect::Version(expected) = expected
                && current.as_ref().map(|current| current.version) != expected
            {
                drop((keys, meta));
                txn.abort().in_file(&self.path)?;
                return Ok(CasOutcome::Conflict { current });
            }
            let version = self.bump(&mut meta, REVISION)?;
            match &value {
                Some(value) => keys.insert(key, (version, value.as_slice())).map(drop),
                None => keys.remove(key).map(drop),
            }
            .in_file(&self.path)?;
            let mut leased_keys = txn.open_table(LEASED).in_file(&self.path)?;
            if leased && value.is_some() {
                leased_keys.insert(key, ()).in_file(&self.path)?;
            } else {
                leased_keys.remove(key).in_file(&self.path)?;
            }
            version
        };
        txn.commit().in_file(&self.path)?;
        let change = KeyChange {
            key: key.to_owned(),
            value,
            version,
        };
        if self.changes.send(change).is_err() {
            tracing::trace!(key, "no one is watching this key change");
        }
        Ok(CasOutcome::Written { version })
    }

    /// Subscribes to key changes after `after`, which must be the current revision: the file
    /// keeps no history of changes to replay.
    pub(super) fn subscribe_after(
        &self,
        after: u64,
    ) -> Result<broadcast::Receiver<KeyChange>, StoreError> {
        // Holding the write lock, no change can slip between reading the revision and
        // subscribing.
        let _in_order = self
            .key_writes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let txn = self.db.begin_read().in_file(&self.path)?;
        let meta = txn.open_table(META).in_file(&self.path)?;
        let revision = meta.get(REVISION).in_file(&self.path)?;
        let available = revision.map_or(0, |revision| revision.value());
        if after < available {
            return Err(StoreError::Compacted { after, available });
        }
        Ok(self.changes.subscribe())
    }

    /// Hands out the next fencing token.
    pub(super) fn campaign(&self) -> Result<u64, StoreError> {
        let txn = self.begin_write()?;
        let fencing_token = {
            let mut meta = txn.open_table(META).in_file(&self.path)?;
            self.bump(&mut meta, FENCING_TOKEN)?
        };
        txn.commit().in_file(&self.path)?;
        Ok(fencing_token)
    }

    /// Reads the counters and commits a write, proving both paths work.
    pub(super) fn ping(&self) -> Result<(), StoreError> {
        let txn = self.begin_write()?;
        {
            let mut meta = txn.open_table(META).in_file(&self.path)?;
            self.bump(&mut meta, PINGS)?;
        }
        txn.commit().in_file(&self.path)
    }

    fn begin_write(&self) -> Result<WriteTransaction, StoreError> {
        self.db.begin_write().in_file(&self.path)
    }

    /// Increments a counter in `meta` and returns its new value (the first is 1).
    fn bump(&self, meta: &mut Table<&str, u64>, counter: &str) -> Result<u64, StoreError> {
        let last = meta.get(counter).in_file(&self.path)?.map(|v| v.value());
        let next = self.next(last.unwrap_or(0), counter)?;
        meta.insert(counter, next).in_file(&self.path)?;
        Ok(next)
    }

    /// The value after `last`; an error, not an overflow, at `u64::MAX`.
    fn next(&self, last: u64, counter: &str) -> Result<u64, StoreError> {
        last.checked_add(1).ok_or_else(|| StoreError::Exhausted {
            path: self.path.clone(),
            counter: counter.to_owned(),
        })
    }

    fn decode(&self, seq: u64, json: &str) -> Result<Event, StoreError> {
        let event = serde_json::from_str(json).map_err(|source| StoreError::Corrupt {
            path: self.path.clone(),
            seq,
            source,
        })?;
        Ok(Event { seq, event })
    }
}

/// Removes the keys the previous process wrote with `put_leased`.
fn drop_leased(txn: &WriteTransaction) -> Result<(), redb::Error> {
    let mut leased = txn.open_table(LEASED)?;
    let mut keys = txn.open_table(KEYS)?;
    let mut dropped = 0_usize;
    while let Some((key, ())) = leased
        .pop_first()?
        .map(|(key, value)| (key.value().to_owned(), value.value()))
    {
        keys.remove(key.as_str())?;
        dropped += 1;
    }
    if dropped > 0 {
        tracing::debug!(dropped, "removed the leased keys of the previous process");
    }
    Ok(())
}

fn versioned((version, value): (u64, &[u8])) -> Versioned {
    Versioned {
        value: value.to_vec(),
        version,
    }
}
