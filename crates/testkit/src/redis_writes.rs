//! The write-history checker for Redis: a client sets `k<i>` to `i` through an address (the
//! writer endpoint), reconnecting after any error, and records every acknowledged key;
//! afterwards [`missing_keys`] says which of them a node lacks.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::task::JoinHandle;

use crate::wait;

/// A running writer, until [`RedisWriter::stop`].
pub struct RedisWriter {
    running: Arc<AtomicBool>,
    /// The highest key number acknowledged so far (0: none yet).
    last_acknowledged: Arc<AtomicU64>,
    task: JoinHandle<RedisHistory>,
}

/// What the writer saw.
#[derive(Debug, Default)]
pub struct RedisHistory {
    /// Each acknowledged key number, with when its acknowledgement came.
    pub acknowledged: Vec<(u64, Instant)>,
    /// Writes that failed or whose outcome is unknown.
    pub failed: usize,
    /// The longest time between two acknowledged writes.
    pub longest_pause: Duration,
}

impl RedisWriter {
    /// Starts writing through `address` (`host:port`, authenticating with `password`), one
    /// `SET` every `every`.
    pub fn start(address: &str, password: &str, every: Duration) -> Self {
        let url = format!("redis://:{password}@{address}/");
        let running = Arc::new(AtomicBool::new(true));
        let last_acknowledged = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(write_loop(
            url,
            every,
            running.clone(),
            last_acknowledged.clone(),
        ));
        Self {
            running,
            last_acknowledged,
            task,
        }
    }

    pub fn last_acknowledged(&self) -> u64 {
        self.last_acknowledged.load(Ordering::Relaxed)
    }

    /// Waits until a write after key `n` is acknowledged, and returns its number.
    pub async fn acknowledged_after(&self, n: u64, deadline: Duration) -> u64 {
        let what = format!("a write acknowledged after k{n}");
        wait::until(&what, deadline, || async {
            Some(self.last_acknowledged()).filter(|&last| last > n)
        })
        .await
        .0
    }

    pub async fn stop(self) -> RedisHistory {
        self.running.store(false, Ordering::Relaxed);
        self.task.await.expect("the writer task panicked")
    }
}

impl RedisHistory {
    /// The acknowledged key numbers.
    pub fn keys(&self) -> BTreeSet<u64> {
        self.acknowledged.iter().map(|(n, _)| *n).collect()
    }
}

async fn connect(url: &str) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(url).ok()?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(5));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}

async fn write_loop(
    url: String,
    every: Duration,
    running: Arc<AtomicBool>,
    last_acknowledged: Arc<AtomicU64>,
) -> RedisHistory {
    let mut history = RedisHistory::default();
    let mut next: u64 = 1;
    let mut last_ack = Instant::now();
    let mut connection: Option<MultiplexedConnection> = None;
    while running.load(Ordering::Relaxed) {
        if connection.is_none() {
            connection = connect(&url).await;
            if connection.is_none() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        }
        let Some(connected) = connection.as_mut() else {
            continue;
        };
        let n = next;
        next += 1;
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(format!("k{n}"))
            .arg(n)
            .query_async(connected)
            .await;
        match set {
            Ok(()) => {
                history.longest_pause = history.longest_pause.max(last_ack.elapsed());
                last_ack = Instant::now();
                history.acknowledged.push((n, last_ack));
                last_acknowledged.store(n, Ordering::Relaxed);
            }
            Err(_) => {
                history.failed += 1;
                connection = None;
            }
        }
        tokio::time::sleep(every).await;
    }
    history
}

/// The keys of `wanted` (numbers) that the node at `address` does not hold.
pub async fn missing_keys(address: &str, password: &str, wanted: &BTreeSet<u64>) -> BTreeSet<u64> {
    let url = format!("redis://:{password}@{address}/");
    let mut connection = connect(&url)
        .await
        .unwrap_or_else(|| panic!("cannot connect to {address} to check the history"));
    let mut missing = BTreeSet::new();
    let wanted: Vec<u64> = wanted.iter().copied().collect();
    for chunk in wanted.chunks(500) {
        let mut pipe = redis::pipe();
        for n in chunk {
            pipe.exists(format!("k{n}"));
        }
        let found: Vec<bool> = pipe
            .query_async(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("cannot read the history on {address}: {e}"));
        missing.extend(chunk.iter().zip(found).filter(|(_, f)| !f).map(|(n, _)| *n));
    }
    missing
}
