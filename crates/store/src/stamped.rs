//! A store that stamps this instance's name, and the fencing token it leads with, on every event
//! appended through it, so that no caller (controller, cluster managers, daemon) has to know
//! which instance it runs on or whether it leads.

use std::sync::Arc;

use async_trait::async_trait;
use lifeline_model::{Event, InstanceName, NewEvent};

use crate::error::StoreError;
use crate::leadership::{Leadership, Role, leading_token};
use crate::store::{CasOutcome, StateStore, Versioned, Write};
use crate::watch::Watch;

/// Any [`StateStore`], with events stamped by `instance` and the token of its `role`.
pub struct Stamped {
    inner: Arc<dyn StateStore>,
    instance: InstanceName,
    role: Role,
}

// === impl Stamped ===

impl Stamped {
    pub fn new(inner: Arc<dyn StateStore>, instance: InstanceName, role: Role) -> Self {
        Self {
            inner,
            instance,
            role,
        }
    }
}

#[async_trait]
impl StateStore for Stamped {
    async fn append(&self, mut event: NewEvent) -> Result<Event, StoreError> {
        event.instance.get_or_insert_with(|| self.instance.clone());
        if event.fencing_token.is_none() {
            event.fencing_token = leading_token(&self.role);
        }
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

    async fn resign(&self, leadership: &Leadership) -> Result<(), StoreError> {
        self.inner.resign(leadership).await
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

    async fn watch(&self, prefix: &str) -> Watch {
        self.inner.watch(prefix).await
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
    async fn events_carry_the_instance_and_the_token_it_leads_with() {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn StateStore> =
            Arc::new(EmbeddedStore::open(&dir.path().join("s.redb")).unwrap());
        let event = || NewEvent::new(Timestamp::now(), EventKind::DaemonStarted, "daemon", "x");
        inner.append(event()).await.unwrap();
        let (role_tx, role) = tokio::sync::watch::channel(None);
        let stamped = Stamped::new(inner.clone(), InstanceName::new("lb-1"), role);
        stamped.append(event()).await.unwrap();
        let leadership = inner.campaign("lb-1").await.unwrap();
        let token = leadership.fencing_token;
        role_tx.send_replace(Some(leadership));
        stamped.append(event()).await.unwrap();
        let events = stamped.latest_events(10).await.unwrap();
        let stamps: Vec<_> = events
            .iter()
            .map(|e| (e.event.instance.clone(), e.event.fencing_token))
            .collect();
        let lb1 = Some(InstanceName::new("lb-1"));
        assert_eq!(
            stamps,
            [(None, None), (lb1.clone(), None), (lb1, Some(token))]
        );
    }
}
