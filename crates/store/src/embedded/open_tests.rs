//! Tests of opening state files that are missing, empty, damaged or in use, and of resetting.

use std::path::{Path, PathBuf};

use lifeline_model::{EventKind, NewEvent, Timestamp};
use tempfile::TempDir;

use super::EmbeddedStore;
use crate::{StateStore, StoreError};

/// redb's page size: damage is laid over whole pages, as a bad disk block would be.
const PAGE: usize = 4096;
const EVENTS: u64 = 1000;
const NOW: Timestamp = Timestamp::from_millis(1_795_000_000_123);

fn state_path() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lifeline.redb");
    (dir, path)
}

fn event(n: u64) -> NewEvent {
    NewEvent::new(
        Timestamp::from_millis(1_795_000_000_000 + n),
        EventKind::OriginDown,
        format!("origin-{n}"),
        "3 failed checks",
    )
}

/// A closed store at `path` holding `count` events.
async fn store_with_events(path: &Path, count: u64) {
    let store = EmbeddedStore::open(path).unwrap();
    for n in 1..=count {
        store.append(event(n)).await.unwrap();
    }
}

/// Deterministic noise (xorshift64), so a failing case can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn open_error(path: &Path) -> StoreError {
    match EmbeddedStore::open(path) {
        Ok(_) => panic!("opened {}", path.display()),
        Err(error) => error,
    }
}

/// The message names the file and says how to start over.
fn assert_says_what_to_do(error: &StoreError, path: &Path) {
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("Restore it from a backup"), "{message}");
    assert!(message.contains("lifeline run --reset-state"), "{message}");
}

#[tokio::test]
async fn a_missing_file_is_created() {
    let (_dir, path) = state_path();
    let store = EmbeddedStore::open(&path).unwrap();
    assert!(path.exists());
    assert!(store.latest_events(10).await.unwrap().is_empty());
}

#[test]
fn an_empty_file_is_refused_and_left_alone() {
    let (_dir, path) = state_path();
    std::fs::write(&path, b"").unwrap();
    let error = open_error(&path);
    assert!(matches!(error, StoreError::Empty { .. }), "{error:?}");
    assert_says_what_to_do(&error, &path);
    assert!(error.to_string().contains("is empty"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), b"", "nothing was written");
}

#[test]
fn a_file_that_is_not_a_store_is_damaged() {
    let (_dir, path) = state_path();
    let garbage = noise(1, 3 * PAGE);
    std::fs::write(&path, &garbage).unwrap();
    let error = open_error(&path);
    assert!(matches!(error, StoreError::Damaged { .. }), "{error:?}");
    assert_says_what_to_do(&error, &path);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "nothing was written"
    );
}

#[tokio::test]
async fn a_truncated_store_is_damaged() {
    let (_dir, path) = state_path();
    store_with_events(&path, 100).await;
    let bytes = std::fs::read(&path).unwrap();
    for len in [1, 100, PAGE, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&path, &bytes[..len]).unwrap();
        let error = open_error(&path);
        assert!(
            matches!(error, StoreError::Damaged { .. }),
            "cut to {len}: {error:?}"
        );
    }
}

/// Random bytes over one page (or straddling two) of a store: every open is either refused as
/// damaged or reads back every event unchanged. A panic anywhere fails the test.
#[tokio::test]
async fn random_pages_are_damage_never_a_panic() {
    let (_dir, path) = state_path();
    store_with_events(&path, EVENTS).await;
    let bytes = std::fs::read(&path).unwrap();
    let (mut damaged, mut cases) = (0, 0);
    for page in 1..16 {
        for (seed, shift) in [(0, 0), (1, 1000)] {
            let offset = page * PAGE + shift;
            let mut broken = bytes.clone();
            let seed = seed + 2 * page as u64;
            broken[offset..offset + PAGE].copy_from_slice(&noise(seed, PAGE));
            std::fs::write(&path, &broken).unwrap();
            cases += 1;
            match EmbeddedStore::open(&path) {
                Err(StoreError::Damaged { .. }) => damaged += 1,
                Err(error) => panic!("offset {offset}, seed {seed}: {error:?}"),
                // An unused page: nothing was lost.
                Ok(store) => {
                    let events = store.events_since(0, usize::MAX).await.unwrap();
                    assert_eq!(events.len() as u64, EVENTS, "offset {offset}");
                    assert_eq!(events[0].event, event(1), "offset {offset}");
                }
            }
        }
    }
    assert!(
        damaged * 2 >= cases,
        "only {damaged} of {cases} cases hit a used page"
    );
}

#[tokio::test]
async fn reset_moves_a_damaged_file_aside_and_starts_empty() {
    let (_dir, path) = state_path();
    let garbage = noise(7, 2 * PAGE);
    std::fs::write(&path, &garbage).unwrap();

    let (store, aside) = EmbeddedStore::reset(&path, NOW).unwrap();
    let aside = aside.expect("the old file was moved");
    assert_eq!(aside, path.with_file_name("lifeline.redb.reset-1795000000"));
    assert_eq!(std::fs::read(&aside).unwrap(), garbage);
    assert!(store.latest_events(10).await.unwrap().is_empty());
    assert_eq!(store.append(event(1)).await.unwrap().seq, 1);
}

#[tokio::test]
async fn reset_moves_a_good_file_aside_too_without_overwriting_an_older_one() {
    let (_dir, path) = state_path();
    std::fs::write(&path, b"").unwrap();
    let (store, first) = EmbeddedStore::reset(&path, NOW).unwrap();
    store.append(event(1)).await.unwrap();
    drop(store);

    // The same second again: the first aside file stays as it was.
    let (store, second) = EmbeddedStore::reset(&path, NOW).unwrap();
    let (first, second) = (first.unwrap(), second.unwrap());
    assert_eq!(std::fs::read(&first).unwrap(), b"");
    assert_eq!(
        second.file_name().unwrap(),
        "lifeline.redb.reset-1795000000-2"
    );
    assert!(store.latest_events(10).await.unwrap().is_empty());
    drop(store);
    let old = EmbeddedStore::open(&second).unwrap();
    assert_eq!(old.latest_events(10).await.unwrap()[0].event, event(1));
}

#[test]
fn reset_without_a_file_just_creates_one() {
    let (_dir, path) = state_path();
    let (_store, aside) = EmbeddedStore::reset(&path, NOW).unwrap();
    assert_eq!(aside, None);
    assert!(path.exists());
}

#[test]
fn reset_refuses_a_file_in_use() {
    let (_dir, path) = state_path();
    let _running = EmbeddedStore::open(&path).unwrap();
    let Err(error) = EmbeddedStore::reset(&path, NOW) else {
        panic!("reset a file in use");
    };
    assert!(matches!(error, StoreError::Locked { .. }), "{error:?}");
    let dir = path.parent().unwrap();
    assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1, "nothing moved");
}
