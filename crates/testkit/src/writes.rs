//! The write-history checker: a client writes through the writer endpoint and records every
//! acknowledged commit; afterwards every acknowledged commit must be on the new primary.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_postgres::NoTls;

use crate::wait;

/// A running writer: one row per transaction, ids it chose itself, until [`Writer::stop`].
pub struct Writer {
    running: Arc<AtomicBool>,
    /// The highest id acknowledged so far (0: none yet).
    last_acknowledged: Arc<AtomicI64>,
    task: JoinHandle<History>,
}

/// What the writer saw.
#[derive(Debug, Default)]
pub struct History {
    /// Ids whose commit was acknowledged.
    pub acknowledged: BTreeSet<i64>,
    /// Commits that failed or whose outcome is unknown (the connection broke).
    pub failed: usize,
    /// The longest time between two acknowledged commits.
    pub longest_pause: Duration,
}

impl Writer {
    /// Creates the table `history` through `dsn` and starts writing (every `every`).
    pub async fn start(dsn: &str, every: Duration) -> Self {
        let (client, connection) = tokio_postgres::connect(dsn, NoTls)
            .await
            .unwrap_or_else(|e| panic!("writer cannot connect: {e}"));
        tokio::spawn(connection);
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS history (id bigint PRIMARY KEY, at timestamptz DEFAULT now())")
            .await
            .unwrap_or_else(|e| panic!("cannot create the history table: {e}"));
        drop(client);
        let running = Arc::new(AtomicBool::new(true));
        let last_acknowledged = Arc::new(AtomicI64::new(0));
        let task = tokio::spawn(write_loop(
            dsn.to_string(),
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

    /// The highest id acknowledged so far, 0 before the first.
    pub fn last_acknowledged(&self) -> i64 {
        self.last_acknowledged.load(Ordering::Relaxed)
    }

    /// Waits until a write after `id` is acknowledged, and returns its id.
    pub async fn acknowledged_after(&self, id: i64, deadline: Duration) -> i64 {
        let what = format!("a write acknowledged after id {id}");
        wait::until(&what, deadline, || async {
            Some(self.last_acknowledged()).filter(|&last| last > id)
        })
        .await
        .0
    }

    pub async fn stop(self) -> History {
        self.running.store(false, Ordering::Relaxed);
        self.task.await.expect("the writer task panicked")
    }
}

async fn write_loop(
    dsn: String,
    every: Duration,
    running: Arc<AtomicBool>,
    last_acknowledged: Arc<AtomicI64>,
) -> History {
    let mut history = History::default();
    let mut next_id: i64 = 1;
    let mut last_ack = Instant::now();
    let mut client = None;
    while running.load(Ordering::Relaxed) {
        if client.is_none() {
            match tokio::time::timeout(Duration::from_secs(2), tokio_postgres::connect(&dsn, NoTls))
                .await
            {
                Ok(Ok((connected, connection))) => {
                    tokio::spawn(connection);
                    client = Some(connected);
                }
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some(connected) = client.as_ref() else {
            continue;
        };
        let id = next_id;
        next_id += 1;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&id];
        let insert = connected.execute("INSERT INTO history (id) VALUES ($1)", &params);
        match tokio::time::timeout(Duration::from_secs(5), insert).await {
            Ok(Ok(_)) => {
                history.longest_pause = history.longest_pause.max(last_ack.elapsed());
                last_ack = Instant::now();
                history.acknowledged.insert(id);
                last_acknowledged.store(id, Ordering::Relaxed);
            }
            _ => {
                history.failed += 1;
                client = None;
            }
        }
        tokio::time::sleep(every).await;
    }
    history
}

/// The ids in `history` on the node at `dsn`.
pub async fn stored_ids(dsn: &str) -> BTreeSet<i64> {
    let (client, connection) = tokio_postgres::connect(dsn, NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to check the history: {e}"));
    tokio::spawn(connection);
    client
        .query("SELECT id FROM history", &[])
        .await
        .unwrap_or_else(|e| panic!("cannot read the history: {e}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}
