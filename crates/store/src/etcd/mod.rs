//! The etcd store, for several Lifeline instances on several machines.
//!
//! Every key lives under `[store] prefix` (see [`keys`]). Versions are etcd `mod_revision`s,
//! conditional writes are transactions on them, leadership is a key on this instance's lease
//! ([`session`]), and a guarded write compares the leader key in the same transaction. Every
//! call is bounded ([`call`]), so an etcd that is down is an error, never a hang.

mod call;
mod campaign;
mod connect;
mod events;
mod keys;
mod kv;
mod session;
mod watch;

use std::time::Duration;

use async_trait::async_trait;
use etcd_client::Client;
use lifeline_model::{EtcdSettings, Event, InstanceName, NewEvent};

use crate::error::StoreError;
use crate::leadership::Leadership;
use crate::store::{CasOutcome, StateStore, Versioned, Write};
use crate::watch::Watch;
use keys::Keys;
use session::Session;

/// A [`StateStore`] on etcd, shared by the instances of one deployment.
pub struct EtcdStore {
    client: Client,
    keys: Keys,
    /// How long one call may take.
    timeout: Duration,
    lease_ttl: Duration,
    session: Session,
}

// === impl EtcdStore ===

impl EtcdStore {
    /// Connects to etcd and starts this instance's lease. Fails within the connect timeout
    /// (the lease TTL, 1 to 10 s) with [`StoreError::Unreachable`], naming the endpoints, when
    /// no endpoint answers.
    pub async fn connect(
        settings: &EtcdSettings,
        instance: &InstanceName,
    ) -> Result<EtcdStore, StoreError> {
        let keys = Keys::new(&settings.prefix);
        let client = connect::connect(settings, &keys.leader()).await?;
        let timeout = connect::call_timeout(settings.lease_ttl);
        let session = Session::start(client.clone(), settings.lease_ttl, timeout);
        tracing::info!(
            %instance,
            endpoints = %settings.endpoints.join(", "),
            prefix = %settings.prefix,
            "connected to etcd"
        );
        Ok(Self {
            client,
            keys,
            timeout,
            lease_ttl: settings.lease_ttl,
            session,
        })
    }
}

#[async_trait]
impl StateStore for EtcdStore {
    async fn append(&self, event: NewEvent) -> Result<Event, StoreError> {
        self.append_event(event).await
    }

    async fn events_since(&self, after: u64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.events_after(after, limit).await
    }

    async fn latest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.newest_events(limit).await
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        self.get_key(key).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<u64>,
        value: Vec<u8>,
    ) -> Result<CasOutcome, StoreError> {
        let key = key.to_owned();
        self.write(
            Write::Cas {
                key,
                expected,
                value,
            },
            None,
        )
        .await
    }

    async fn delete(&self, key: &str, expected: u64) -> Result<CasOutcome, StoreError> {
        let key = key.to_owned();
        self.write(Write::Delete { key, expected }, None).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<(String, Versioned)>, StoreError> {
        self.list_keys(prefix).await
    }

    async fn campaign(&self, candidate: &str) -> Result<Leadership, StoreError> {
        self.run_campaign(candidate).await
    }

    async fn resign(&self, leadership: &Leadership) -> Result<(), StoreError> {
        self.run_resign(leadership).await
    }

    async fn guarded(
        &self,
        leadership: &Leadership,
        write: Write,
    ) -> Result<CasOutcome, StoreError> {
        self.write(write, Some(leadership.fencing_token)).await
    }

    async fn put_leased(&self, key: &str, value: Vec<u8>) -> Result<u64, StoreError> {
        self.put_leased_key(key, value).await
    }

    async fn watch(&self, prefix: &str) -> Watch {
        match self.current_revision().await {
            Ok(revision) => watch::spawn(self.client.clone(), self.keys.clone(), prefix, revision),
            Err(error) => Watch::failed(error),
        }
    }

    async fn watch_from(&self, prefix: &str, after: u64) -> Result<Watch, StoreError> {
        Ok(watch::spawn(
            self.client.clone(),
            self.keys.clone(),
            prefix,
            after,
        ))
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.probe().await
    }
}
