//! Opening the redb file: a new one where none exists, an existing one only after redb's
//! integrity check, and moving an old one aside for `--reset-state`.
//!
//! It stands apart because a state file that exists but is empty, truncated or damaged must fail
//! with an error that names it and says what to do, never start silently empty and never panic.

use std::fs::OpenOptions;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use lifeline_model::Timestamp;
use redb::backends::FileBackend;
use redb::{Builder, Database, DatabaseError, StorageError};

use crate::error::StoreError;

/// Opens the database at `path`, creating an empty one if no file is there.
pub(super) fn database(path: &Path) -> Result<Database, StoreError> {
    // `create_new` tells "no file" from "a file", which `Database::create` does not: it
    // initialises a new database in an empty file, so a state file emptied by accident would
    // start without its drains, pins and event log, and no one would know.
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(file) => create(path, file),
        Err(error) if error.kind() == ErrorKind::AlreadyExists => existing(path),
        Err(source) => Err(StoreError::Open {
            path: path.to_owned(),
            source: source.into(),
        }),
    }
}

/// Moves the file at `path` (if any) aside to `<path>.reset-<unix seconds>` and returns where
/// it went. A file another process has open is refused, never moved, and so is one that cannot
/// be opened to find out (no permission, an I/O error).
pub(super) fn move_aside(path: &Path, now: Timestamp) -> Result<Option<PathBuf>, StoreError> {
    if !path.exists() {
        return Ok(None);
    }
    // Opening the file takes redb's lock, so a file in use fails here as `Locked`, and a good
    // file stays locked until it has been renamed.
    let _held = match existing(path) {
        Ok(db) => Some(db),
        Err(StoreError::Empty { .. } | StoreError::Damaged { .. }) => None,
        Err(error) => return Err(error),
    };
    let aside = aside_path(path, now);
    std::fs::rename(path, &aside).map_err(|source| StoreError::MoveAside {
        path: path.to_owned(),
        to: aside.clone(),
        source,
    })?;
    Ok(Some(aside))
}

/// Initialises a new database in the file just created at `path`.
fn create(path: &Path, file: std::fs::File) -> Result<Database, StoreError> {
    let created =
        FileBackend::new(file).and_then(|backend| Builder::new().create_with_backend(backend));
    match created {
        Ok(db) => {
            tracing::info!(path = %path.display(), "no state file yet: created an empty one");
            Ok(db)
        }
        Err(source) => {
            // Left behind, the empty file would be refused as empty at the next start.
            if let Err(error) = std::fs::remove_file(path) {
                let path = path.display();
                tracing::warn!(%path, %error, "cannot remove the state file it failed to create");
            }
            Err(open_error(path, source))
        }
    }
}

/// Opens a file that exists, after checking every page of it.
fn existing(path: &Path) -> Result<Database, StoreError> {
    // A plain open trusts the file: a page damaged outside redb makes the first read that
    // reaches it panic (`unreachable!` in redb's btree code). The check verifies the checksum of
    // every page of the committed trees first and reports damage as `Corrupted` instead, so no
    // read afterwards meets an unchecked page. It reads the whole file: about 45 ms for 10,000
    // events in a debug build, once at startup.
    let mut builder = Builder::new();
    builder.set_check_integrity_on_open(true);
    builder.open(path).map_err(|source| {
        let empty = std::fs::metadata(path).is_ok_and(|meta| meta.len() == 0);
        match source {
            DatabaseError::Storage(StorageError::Io(_)) if empty => StoreError::Empty {
                path: path.to_owned(),
            },
            source => open_error(path, source),
        }
    })
}

/// Sorts an open failure into locked, damaged (the file's content) or anything else.
fn open_error(path: &Path, source: DatabaseError) -> StoreError {
    let path = path.to_owned();
    match source {
        DatabaseError::DatabaseAlreadyOpen => StoreError::Locked { path },
        // No magic number (`InvalidData`), or shorter than the header (`UnexpectedEof`).
        DatabaseError::Storage(StorageError::Io(ref error))
            if matches!(
                error.kind(),
                ErrorKind::InvalidData | ErrorKind::UnexpectedEof
            ) =>
        {
            StoreError::Damaged {
                path,
                cause: source,
            }
        }
        DatabaseError::Storage(StorageError::Corrupted(_)) => StoreError::Damaged {
            path,
            cause: source,
        },
        source => StoreError::Open { path, source },
    }
}

/// `<path>.reset-<unix seconds>`, with `-2`, `-3`, ... appended while that name is taken.
fn aside_path(path: &Path, now: Timestamp) -> PathBuf {
    let named = |suffix: String| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let base = format!(".reset-{}", now.as_millis() / 1000);
    let mut aside = named(base.clone());
    let mut n = 1;
    while aside.exists() {
        n += 1;
        aside = named(format!("{base}-{n}"));
    }
    aside
}
