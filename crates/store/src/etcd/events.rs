//! The event log on etcd: one key per event, numbered by a counter key written in the same
//! transaction, so two instances appending at once never share or skip a number.

use etcd_client::{Compare, CompareOp, GetOptions, KeyValue, SortOrder, SortTarget, Txn, TxnOp};
use lifeline_model::{Event, NewEvent};

use super::EtcdStore;
use super::call::bounded;
use crate::error::StoreError;

// === impl EtcdStore ===

impl EtcdStore {
    pub(super) async fn append_event(&self, event: NewEvent) -> Result<Event, StoreError> {
        let json = serde_json::to_string(&event).map_err(|source| StoreError::Encode {
            subject: event.subject.clone(),
            source,
        })?;
        let counter = self.keys.event_counter();
        loop {
            let mut kv = self.client.kv_client();
            let read = bounded("append", self.timeout, kv.get(counter.clone(), None)).await?;
            let (last, compare) = match read.kvs().first() {
                Some(pair) => {
                    let last = self.counter_value(pair)?;
                    let seen = pair.mod_revision();
                    (
                        last,
                        Compare::mod_revision(counter.clone(), CompareOp::Equal, seen),
                    )
                }
                None => (
                    0,
                    Compare::create_revision(counter.clone(), CompareOp::Equal, 0),
                ),
            };
            let seq = last.checked_add(1).ok_or_else(|| StoreError::Malformed {
                key: counter.clone(),
                message: format!("no sequence number after {}", u64::MAX),
            })?;
            let txn = Txn::new().when(vec![compare]).and_then(vec![
                TxnOp::put(counter.clone(), seq.to_string(), None),
                TxnOp::put(self.keys.event(seq), json.clone(), None),
            ]);
            let written = bounded("append", self.timeout, kv.txn(txn)).await?;
            if written.succeeded() {
                return Ok(Event { seq, event });
            }
            tracing::debug!(
                seq,
                "another instance appended an event first; numbering again"
            );
        }
    }

    pub(super) async fn events_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        // etcd reads a limit of 0 as "no limit".
        let (Some(first), true) = (after.checked_add(1), limit > 0) else {
            return Ok(Vec::new());
        };
        let options = GetOptions::new()
            .with_range(self.keys.events_end())
            .with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        let mut kv = self.client.kv_client();
        let get = kv.get(self.keys.event(first), Some(options));
        let response = bounded("events_since", self.timeout, get).await?;
        response
            .kvs()
            .iter()
            .map(|pair| self.decode(pair))
            .collect()
    }

    pub(super) async fn newest_events(&self, limit: usize) -> Result<Vec<Event>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let options = GetOptions::new()
            .with_prefix()
            .with_sort(SortTarget::Key, SortOrder::Descend)
            .with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        let mut kv = self.client.kv_client();
        let get = kv.get(self.keys.events(), Some(options));
        let response = bounded("latest_events", self.timeout, get).await?;
        let mut newest = response
            .kvs()
            .iter()
            .map(|pair| self.decode(pair))
            .collect::<Result<Vec<_>, _>>()?;
        newest.reverse();
        Ok(newest)
    }

    fn decode(&self, pair: &KeyValue) -> Result<Event, StoreError> {
        let key = String::from_utf8_lossy(pair.key()).into_owned();
        let malformed = |message: String| StoreError::Malformed {
            key: key.clone(),
            message,
        };
        let seq = self
            .keys
            .event_seq(&key)
            .ok_or_else(|| malformed("not an event number".to_owned()))?;
        let event = serde_json::from_slice(pair.value())
            .map_err(|error| malformed(format!("cannot read the event: {error}")))?;
        Ok(Event { seq, event })
    }

    fn counter_value(&self, pair: &KeyValue) -> Result<u64, StoreError> {
        std::str::from_utf8(pair.value())
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| StoreError::Malformed {
                key: self.keys.event_counter(),
                message: "the event counter is not a number".to_owned(),
            })
    }
}
