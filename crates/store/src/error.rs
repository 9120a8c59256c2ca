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
}
