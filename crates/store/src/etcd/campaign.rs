//! Leader election on etcd: the leader key, created on this instance's lease only if absent.
//!
//! The fencing token is the leader key's create revision, which grows with every new leader
//! because etcd revisions never go back. A candidate that finds the key taken watches it until
//! it is deleted (its owner's lease expired or was revoked), re-checking every lease TTL in case
//! the watch stream was lost.

use etcd_client::{
    Compare, CompareOp, EventType, PutOptions, Txn, TxnOp, TxnOpResponse, WatchOptions,
};

use super::EtcdStore;
use super::call::{bounded, header_revision, version};
use crate::error::StoreError;
use crate::leadership::Leadership;

// === impl EtcdStore ===

impl EtcdStore {
    pub(super) async fn run_campaign(&self, candidate: &str) -> Result<Leadership, StoreError> {
        let leader = self.keys.leader();
        loop {
            let lease = self.session.lease(self.timeout).await?;
            let put = PutOptions::new().with_lease(lease.id);
            let txn = Txn::new()
                .when(vec![Compare::create_revision(
                    leader.clone(),
                    CompareOp::Equal,
                    0,
                )])
                .and_then(vec![TxnOp::put(leader.clone(), candidate, Some(put))])
                .or_else(vec![TxnOp::get(leader.clone(), None)]);
            let mut kv = self.client.kv_client();
            let response = bounded("campaign", self.timeout, kv.txn(txn)).await?;
            let revision = header_revision(response.header());
            if response.succeeded() {
                tracing::info!(candidate, fencing_token = revision, "became leader");
                return Ok(Leadership::new(revision, candidate, lease.lost));
            }
            let holder = response.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Get(get) => get.kvs().first().cloned(),
                _ => None,
            });
            // Our own key from an earlier campaign on the same lease: still ours.
            if let Some(holder) = holder.filter(|holder| holder.lease() == lease.id) {
                let fencing_token = version(holder.create_revision());
                return Ok(Leadership::new(fencing_token, candidate, lease.lost));
            }
            tracing::debug!(
                candidate,
                "another instance leads; waiting for its key to go"
            );
            self.wait_deleted(&leader, revision + 1).await;
        }
    }

    /// Deletes the leader key if it is still the one `leadership` created.
    pub(super) async fn run_resign(&self, leadership: &Leadership) -> Result<(), StoreError> {
        let leader = self.keys.leader();
        let txn = Txn::new()
            .when(vec![Compare::create_revision(
                leader.clone(),
                CompareOp::Equal,
                super::call::revision(leadership.fencing_token),
            )])
            .and_then(vec![TxnOp::delete(leader, None)]);
        let mut kv = self.client.kv_client();
        let response = bounded("resign", self.timeout, kv.txn(txn)).await?;
        if response.succeeded() {
            tracing::info!(
                fencing_token = leadership.fencing_token,
                "resigned the leadership"
            );
        }
        Ok(())
    }

    /// Returns when `key` is deleted at or after `from`, when the watch breaks, or after a lease
    /// TTL, whichever comes first; the caller checks again.
    async fn wait_deleted(&self, key: &str, from: u64) {
        let wait = async {
            let options = WatchOptions::new().with_start_revision(super::call::revision(from));
            let mut watch_client = self.client.watch_client();
            let mut stream = match watch_client.watch(key, Some(options)).await {
                Ok(stream) => stream,
                Err(error) => {
                    tracing::debug!(%error, "cannot watch the leader key");
                    return;
                }
            };
            while let Ok(Some(response)) = stream.message().await {
                if response.canceled()
                    || response
                        .events()
                        .iter()
                        .any(|event| event.event_type() == EventType::Delete)
                {
                    return;
                }
            }
        };
        if tokio::time::timeout(self.lease_ttl, wait).await.is_err() {
            tracing::trace!(key, "leader key still held; checking again");
        }
    }
}
