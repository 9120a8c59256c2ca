//! The one error type every store operation returns, carrying the file or key it concerns.

use std::path::PathBuf;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another handle in this one) already has the state file open.
    #[error("state file {} is in use by another Lifeline process", path.display())]
    Locked { path: PathBuf },

    #[error("cannot create the directory {} for the state file: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },

    /// The file exists but holds nothing: not even the empty tables a first start writes.
    #[error(
        "state file {} is empty, so the drains, pins and event log it should hold are gone. \
         Restore it from a backup, or start over with `lifeline run --reset-state`, which moves \
         it aside",
        path.display()
    )]
    Empty { path: PathBuf },

    /// The file is not a redb file, is truncated, or fails redb's integrity check. `cause` is
    /// not a `source`: the message shows it before the advice, and a chain would repeat it.
    #[error(
        "state file {} is damaged ({cause}). Restore it from a backup, or start over with \
         `lifeline run --reset-state`, which moves it aside",
        path.display()
    )]
    Damaged {
        path: PathBuf,
        cause: redb::DatabaseError,
    },

    #[error("cannot move state file {} aside to {}: {source}", path.display(), to.display())]
    MoveAside {
        path: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },

    #[error("cannot open state file {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },

    /// A read or write transaction failed (I/O error, full disk, damaged file).
    #[error("state file {}: {source}", path.display())]
    Database { path: PathBuf, source: redb::Error },

    /// A sequence number or counter in the file is at `u64::MAX`, which only a file written by
    /// something else can reach: there is no next value to hand out.
    #[error("state file {}: {counter} has no value after {}", path.display(), u64::MAX)]
    Exhausted { path: PathBuf, counter: String },

    /// A stored event cannot be decoded, for example a kind this binary does not know.
    #[error("state file {}: event {seq} cannot be read: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        seq: u64,
        source: serde_json::Error,
    },

    #[error("cannot encode an event about {subject}: {source}")]
    Encode {
        subject: String,
        source: serde_json::Error,
    },

    /// The blocking task that ran the operation panicked or was cancelled.
    #[error("store operation {operation} did not complete: {source}")]
    Task {
        operation: &'static str,
        source: tokio::task::JoinError,
    },

    /// No etcd endpoint answered within the connect timeout at start.
    #[error("cannot reach etcd at {endpoints} within {timeout:?}: {cause}")]
    Unreachable {
        endpoints: String,
        timeout: std::time::Duration,
        cause: String,
    },

    /// The `[store]` settings cannot be used (a TLS file that cannot be read, ...).
    #[error("etcd settings: {message}")]
    Settings { message: String },

    /// The store did not answer in time or refused the call (etcd down, no etcd leader, ...).
    /// Nothing is known to have changed.
    #[error("store unavailable during {operation}: {cause}")]
    Unavailable {
        operation: &'static str,
        cause: String,
    },

    /// A guarded write of a leader that has been deposed (or whose lease expired): nothing
    /// changed.
    #[error("fencing token {fencing_token} no longer holds leadership; the write was refused")]
    NotLeader { fencing_token: u64 },

    /// A watch asked for changes after `after`, but the store only has them from `available`.
    #[error(
        "the changes after revision {after} are gone (compacted up to {available}); read the keys again and watch from there"
    )]
    Compacted { after: u64, available: u64 },

    /// A value in etcd that this binary cannot read (written by something else).
    #[error("etcd key {key}: {message}")]
    Malformed { key: String, message: String },
}
