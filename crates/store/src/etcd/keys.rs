//! Where each kind of value lives under `[store] prefix` (pure, no I/O).
//!
//! ```text
//! <prefix>/keys/<key>          versioned keys (get, compare_and_swap, list, watch)
//! <prefix>/events/<seq, 20 digits>   the event log, in order because the digits are padded
//! <prefix>/meta/event_seq      the last sequence number handed out
//! <prefix>/leader              the leader's name, on its lease; its create revision is the token
//! ```

/// The key layout of one deployment.
#[derive(Clone, Debug)]
pub(super) struct Keys {
    root: String,
}

// === impl Keys ===

impl Keys {
    pub(super) fn new(prefix: &str) -> Self {
        Self {
            root: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// The etcd key of a store key.
    pub(super) fn key(&self, key: &str) -> String {
        format!("{}/keys/{key}", self.root)
    }

    /// The store key of an etcd key under `keys/`, `None` for anything else.
    pub(super) fn strip<'a>(&self, etcd_key: &'a str) -> Option<&'a str> {
        etcd_key
            .strip_prefix(self.root.as_str())?
            .strip_prefix("/keys/")
    }

    pub(super) fn event(&self, seq: u64) -> String {
        format!("{}/events/{seq:020}", self.root)
    }

    /// The prefix of every event key.
    pub(super) fn events(&self) -> String {
        format!("{}/events/", self.root)
    }

    /// The first key after every event key (`/` + 1 is `0`), the end of a range scan.
    pub(super) fn events_end(&self) -> String {
        format!("{}/events0", self.root)
    }

    /// The sequence number in an event key.
    pub(super) fn event_seq(&self, etcd_key: &str) -> Option<u64> {
        etcd_key.strip_prefix(&self.events())?.parse().ok()
    }

    pub(super) fn event_counter(&self) -> String {
        format!("{}/meta/event_seq", self.root)
    }

    pub(super) fn leader(&self) -> String {
        format!("{}/leader", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;

    #[test]
    fn keys_round_trip_and_events_sort_by_number() {
        let keys = Keys::new("/lifeline/prod/");
        assert_eq!(keys.key("pool/a"), "/lifeline/prod/keys/pool/a");
        assert_eq!(keys.strip("/lifeline/prod/keys/pool/a"), Some("pool/a"));
        assert_eq!(keys.strip("/lifeline/other/keys/pool/a"), None);
        assert!(keys.event(9) < keys.event(10));
        assert!(keys.event(u64::MAX) < keys.events_end());
        assert_eq!(keys.event_seq(&keys.event(42)), Some(42));
        assert_eq!(keys.leader(), "/lifeline/prod/leader");
    }
}
