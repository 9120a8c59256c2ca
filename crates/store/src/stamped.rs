//! A store that stamps this instance's name on every event appended through it, so that no
//! caller (controller, cluster managers, daemon) has to know which instance it runs on.

use std::sync::Arc;

use async_trait::async_trait;
use lifeline_model::{Event, InstanceName, NewEvent};

use crate::error::StoreError;
use crate::leadership::Leadership;
use crate::store::{CasOutcome, StateStore, Versioned, Write};
use crate::watch::Watch;

/// Any [`StateStore`], with events stamped by `instance`.
pub struct Stamped {
    inner: Arc<dyn StateStore>,
    instance: InstanceName,
}

// === impl Stamped ===

impl Stamped {
    pub fn new(inner: Arc<dyn StateStore>, instance: InstanceName) -> Self {
        Self { inner, instance }
    }
}

#[async_trait]
impl StateStore for Stamped {
    async fn append(&self, mut event: NewEvent) -> Result<Event, StoreError> {
        event.instance.get_or_insert_with(|| self.instance.clone());
        self.inner.append(event).await
    }

    async fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.events_since(after, limit).await
    }

    async fn latest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.inner.latest_events(limit).await
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<CasOutcome, StoreError> {
        self.inner.compare_and_swap(key, expected, value).await
    }

    async fn delete(&self, key: &str, expected: u64) -> Result<CasOutcome, StoreError> {
        self.inner.delete(key, expected).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.inner.list(prefix).await
    }

    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError> {
        self.inner.campaign(candidate).await
    }

    async fn guarded(
        &self,
        leadership: &Leadership,
        write: Write,
    ) -> Result<CasOutcome, StoreError> {
        self.inner.guarded(leadership, write).await
    }

    async fn put_leased(&self, key: &str, value: Vec<u8>) -> Result<u64, StoreError> {
        self.inner.put_leased(key, value).await
    }

    fn watch(&self, prefix: &str) -> Watch {
        self.inner.watch(prefix)
    }

    async fn watch_from(&self, prefix: &str, after: u64) -> Result<Watch, StoreError> {
        self.inner.watch_from(prefix, after).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use lifeline_model::{EventKind, InstanceName, NewEvent, Timestamp};

    use super::Stamped;
    use crate::{EmbeddedStore, StateStore};

    #[tokio::test]
    async fn events_carry_the_instance_and_old_ones_stay_readable() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn StateStore> =
            Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
        let event = || NewEvent::new(Timestamp::now(), EventKind::DaemonStarted, "daemon", "x");
        inner.append(event()).await.unwrap();
        let stamped = Stamped::new(inner, InstanceName::new("lb-1"));
        stamped.append(event()).await.unwrap();
        let events = stamped.latest_events(10).await.unwrap();
        let instances: Vec<_> = events.iter().map(|e| e.event.instance.clone()).collect();
        assert_eq!(instances, [None, Some(InstanceName::new("lb-1"))]);
    }
}
