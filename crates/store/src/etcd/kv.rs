//! Versioned keys on etcd: reads, and writes as transactions comparing `mod_revision`.
//!
//! A store version is the key's etcd `mod_revision`, and "absent" is `create_revision == 0`.
//! A guarded write adds one more compare, the leader key's `create_revision` against the
//! fencing token, to the same transaction, so a deposed leader changes nothing.

use etcd_client::{
    Compare, CompareOp, GetOptions, KeyValue, PutOptions, Txn, TxnOp, TxnOpResponse, TxnResponse,
};

use super::EtcdStore;
use super::call::{bounded, header_revision, revision, version};
use crate::error::StoreError;
use crate::store::{CasOutcome, Versioned, Write};

// === impl EtcdStore ===

impl EtcdStore {
    pub(super) async fn get_key(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let mut kv = self.client.kv_client();
        let response = bounded("get", self.timeout, kv.get(self.keys.key(key), None)).await?;
        Ok(response.kvs().first().map(versioned))
    }

    /// The store's revision now: a count-only read of the prefix, for its header.
    pub(super) async fn current_revision(&self) -> Result<u64, StoreError> {
        let mut kv = self.client.kv_client();
        let options = GetOptions::new().with_prefix().with_count_only();
        let get = kv.get(self.keys.key(""), Some(options));
        let response = bounded("revision", self.timeout, get).await?;
        Ok(header_revision(response.header()))
    }

    pub(super) async fn list_keys(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, Versioned)>, StoreError> {
        let mut kv = self.client.kv_client();
        let options = GetOptions::new().with_prefix();
        let get = kv.get(self.keys.key(prefix), Some(options));
        let response = bounded("list", self.timeout, get).await?;
        let mut found = Vec::new();
        for pair in response.kvs() {
            let key = self.store_key(pair)?;
            found.push((key, versioned(pair)));
        }
        Ok(found)
    }

    /// Applies `write`, with `fencing_token` also compared against the leader key when given.
    pub(super) async fn write(
        &self,
        write: Write,
        fencing_token: Option<u64>,
    ) -> Result<CasOutcome, StoreError> {
        let (key, compare, op) = match write {
            Write::Cas {
                key,
                expected,
                value,
            } => {
                let etcd_key = self.keys.key(&key);
                let compare = match expected {
                    None => Compare::create_revision(etcd_key.clone(), CompareOp::Equal, 0),
                    Some(expected) => Compare::mod_revision(
                        etcd_key.clone(),
                        CompareOp::Equal,
                        revision(expected),
                    ),
                };
                (
                    etcd_key.clone(),
                    Some(compare),
                    TxnOp::put(etcd_key, value, None),
                )
            }
            Write::Put { key, value } => {
                let etcd_key = self.keys.key(&key);
                (etcd_key.clone(), None, TxnOp::put(etcd_key, value, None))
            }
            Write::Delete { key, expected } => {
                let etcd_key = self.keys.key(&key);
                let compare =
                    Compare::mod_revision(etcd_key.clone(), CompareOp::Equal, revision(expected));
                (
                    etcd_key.clone(),
                    Some(compare),
                    TxnOp::delete(etcd_key, None),
                )
            }
        };
        let leader = self.keys.leader();
        let mut compares = Vec::new();
        if let Some(token) = fencing_token {
            let token = revision(token);
            compares.push(Compare::create_revision(
                leader.clone(),
                CompareOp::Equal,
                token,
            ));
        }
        compares.extend(compare);
        let txn = Txn::new()
            .when(compares)
            .and_then(vec![op])
            .or_else(vec![TxnOp::get(leader, None), TxnOp::get(key, None)]);
        let mut kv = self.client.kv_client();
        let response = bounded("write", self.timeout, kv.txn(txn)).await?;
        if response.succeeded() {
            let version = header_revision(response.header());
            return Ok(CasOutcome::Written { version });
        }
        let [leader, current] = gets(&response);
        if let Some(fencing_token) = fencing_token {
            let holds =
                leader.is_some_and(|leader| version(leader.create_revision()) == fencing_token);
            if !holds {
                return Err(StoreError::NotLeader { fencing_token });
            }
        }
        Ok(CasOutcome::Conflict {
            current: current.as_ref().map(versioned),
        })
    }

    pub(super) async fn put_leased_key(
        &self,
        key: &str,
        value: Vec<u8>,
    ) -> Result<u64, StoreError> {
        let lease = self.session.lease(self.timeout).await?;
        let mut kv = self.client.kv_client();
        let options = PutOptions::new().with_lease(lease.id);
        let put = kv.put(self.keys.key(key), value, Some(options));
        let response = bounded("put_leased", self.timeout, put).await?;
        Ok(header_revision(response.header()))
    }

    /// A linearizable read: it goes through etcd's leader, so it also proves etcd has one.
    pub(super) async fn probe(&self) -> Result<(), StoreError> {
        let mut kv = self.client.kv_client();
        let options = GetOptions::new().with_count_only();
        bounded(
            "ping",
            self.timeout,
            kv.get(self.keys.leader(), Some(options)),
        )
        .await?;
        Ok(())
    }

    pub(super) fn store_key(&self, pair: &KeyValue) -> Result<String, StoreError> {
        let etcd_key = String::from_utf8_lossy(pair.key());
        self.keys
            .strip(&etcd_key)
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Malformed {
                key: etcd_key.clone().into_owned(),
                message: "not under the keys of this prefix".to_owned(),
            })
    }
}

pub(super) fn versioned(pair: &KeyValue) -> Versioned {
    Versioned {
        value: pair.value().to_vec(),
        version: version(pair.mod_revision()),
    }
}

/// The first key of each of the two `get`s of a failed transaction's else branch.
fn gets(response: &TxnResponse) -> [Option<KeyValue>; 2] {
    let mut found = response.op_responses().into_iter().map(|op| match op {
        TxnOpResponse::Get(get) => get.kvs().first().cloned(),
        _ => None,
    });
    [found.next().flatten(), found.next().flatten()]
}
