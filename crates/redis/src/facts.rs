//! What `INFO replication` says about a node, and how it reads in the cluster seam's words.
//!
//! Pure: text in, facts out. Offsets are bytes of the one replication stream that a master and
//! its replicas share (a promoted replica carries its master's offsets on), so they compare
//! across the nodes of a cluster as PostgreSQL's WAL positions do.

use std::collections::HashMap;
use std::time::Duration;

use lifeline_model::{LinkState, NodeFacts, ReplicaLink, Role, Upstream};

/// One node's `INFO replication`, as far as failover needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct RedisFacts {
    pub master: bool,
    /// A master: `master_repl_offset`; a replica: `slave_repl_offset`, what it has received
    /// and applied (a replica applies the stream as it reads it).
    pub offset: Option<u64>,
    /// A replica: `master_host`, `master_port`.
    pub master_host: Option<String>,
    pub master_port: Option<u16>,
    /// A replica: `master_link_status:up`.
    pub link_up: bool,
    /// A replica: `master_sync_in_progress:1`, a full copy from its master under way.
    pub syncing: bool,
    /// A replica: `master_last_io_seconds_ago`; `None` when it never heard from it (`-1`).
    pub last_io: Option<Duration>,
    /// A master: its replicas as it lists them (`slaveN:ip=...,port=...,state=...,offset=...`).
    pub replicas: Vec<ReplicaEntry>,
}

/// One `slaveN:` line of a master.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplicaEntry {
    pub ip: String,
    pub port: u16,
    /// `online`, `wait_bgsave`, `send_bulk`, ...
    pub state: String,
    pub offset: Option<u64>,
}

// === impl RedisFacts ===

impl RedisFacts {
    /// Reads the text of `INFO replication`; `None` when it has no `role` line.
    pub fn parse(info: &str) -> Option<Self> {
        let fields: HashMap<&str, &str> = info
            .lines()
            .filter_map(|line| line.trim_end().split_once(':'))
            .collect();
        let master = match *fields.get("role")? {
            "master" => true,
            "slave" => false,
            _ => return None,
        };
        let number = |key: &str| fields.get(key).and_then(|v| v.parse::<i64>().ok());
        let offset = if master {
            number("master_repl_offset")
        } else {
            number("slave_repl_offset").or(number("master_repl_offset"))
        };
        let mut replicas: Vec<(usize, ReplicaEntry)> = fields
            .iter()
            .filter_map(|(key, value)| {
                let index = key.strip_prefix("slave")?.parse().ok()?;
                Some((index, ReplicaEntry::parse(value)?))
            })
            .collect();
        replicas.sort_by_key(|(index, _)| *index);
        Some(Self {
            master,
            offset: offset.and_then(|o| u64::try_from(o).ok()),
            master_host: (!master)
                .then(|| fields.get("master_host").map(|h| h.to_string()))
                .flatten(),
            master_port: fields.get("master_port").and_then(|p| p.parse().ok()),
            link_up: fields.get("master_link_status") == Some(&"up"),
            syncing: fields.get("master_sync_in_progress") == Some(&"1"),
            last_io: number("master_last_io_seconds_ago")
                .and_then(|s| u64::try_from(s).ok())
                .map(Duration::from_secs),
            replicas: replicas.into_iter().map(|(_, entry)| entry).collect(),
        })
    }

    /// The seam's facts. `keepalive` is the node's `repl-ping-replica-period`.
    pub fn neutral(&self, keepalive: Option<Duration>) -> NodeFacts {
        let upstream = (!self.master).then(|| Upstream {
            host: self.master_host.clone(),
            port: self.master_port,
            state: match (self.link_up, self.syncing) {
                (true, _) => LinkState::Streaming,
                (false, true) => LinkState::CatchingUp,
                (false, false) => LinkState::Connecting,
            },
            last_message_age: self.last_io.filter(|_| self.link_up),
            name: None,
        });
        NodeFacts {
            role: if self.master {
                Role::Primary
            } else {
                Role::Replica
            },
            timeline: None,
            position: self.offset,
            applied: (!self.master).then_some(self.offset).flatten(),
            lag_seconds: None,
            upstream,
            replicas: self
                .replicas
                .iter()
                .map(|replica| ReplicaLink {
                    name: format!("{}:{}", replica.ip, replica.port),
                    state: match replica.state.as_str() {
                        "online" => LinkState::Streaming,
                        "wait_bgsave" | "send_bulk" => LinkState::CatchingUp,
                        _ => LinkState::Connecting,
                    },
                    synchronous: false,
                    flushed: replica.offset,
                    applied: replica.offset,
                })
                .collect(),
            synchronous: Vec::new(),
            keepalive,
            fenced: false,
        }
    }
}

// === impl ReplicaEntry ===

impl ReplicaEntry {
    /// `ip=127.0.0.1,port=6380,state=online,offset=123,lag=0`.
    fn parse(value: &str) -> Option<Self> {
        let fields: HashMap<&str, &str> =
            value.split(',').filter_map(|f| f.split_once('=')).collect();
        Some(Self {
            ip: fields.get("ip")?.to_string(),
            port: fields.get("port")?.parse().ok()?,
            state: fields.get("state").unwrap_or(&"").to_string(),
            offset: fields.get("offset").and_then(|o| o.parse().ok()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=127.0.0.1,port=6380,state=online,offset=4021,lag=0\r\n\
        slave1:ip=127.0.0.1,port=6381,state=wait_bgsave,offset=0,lag=1\r\n\
        master_failover_state:no-failover\r\n\
        master_replid:56989b75c282f8758b2ed22347b6d430004fd097\r\n\
        master_repl_offset:4035\r\nsecond_repl_offset:-1\r\n";

    const REPLICA: &str = "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\n\
        master_port:6379\r\nmaster_link_status:up\r\nmaster_last_io_seconds_ago:2\r\n\
        master_sync_in_progress:0\r\nslave_read_repl_offset:4021\r\nslave_repl_offset:4021\r\n\
        slave_priority:100\r\nmaster_repl_offset:4021\r\n";

    #[test]
    fn a_master_with_its_replicas() {
        let facts = RedisFacts::parse(MASTER).unwrap();
        assert!(facts.master);
        assert_eq!(facts.offset, Some(4035));
        let neutral = facts.neutral(Some(Duration::from_secs(10)));
        assert_eq!(neutral.role, Role::Primary);
        assert_eq!(neutral.position, Some(4035));
        assert!(neutral.upstream.is_none());
        let links: Vec<(&str, LinkState, Option<u64>)> = neutral
            .replicas
            .iter()
            .map(|r| (r.name.as_str(), r.state, r.applied))
            .collect();
        assert_eq!(
            links,
            [
                ("127.0.0.1:6380", LinkState::Streaming, Some(4021)),
                ("127.0.0.1:6381", LinkState::CatchingUp, Some(0)),
            ]
        );
        assert_eq!(neutral.keepalive, Some(Duration::from_secs(10)));
    }

    #[test]
    fn a_replica_hears_its_master_only_while_the_link_is_up() {
        let facts = RedisFacts::parse(REPLICA).unwrap();
        let neutral = facts.neutral(None);
        assert_eq!(neutral.role, Role::Replica);
        assert_eq!(
            (neutral.position, neutral.applied),
            (Some(4021), Some(4021))
        );
        let upstream = neutral.upstream.unwrap();
        assert_eq!(
            (upstream.host.as_deref(), upstream.port, upstream.state),
            (Some("127.0.0.1"), Some(6379), LinkState::Streaming)
        );
        assert_eq!(upstream.last_message_age, Some(Duration::from_secs(2)));

        let down = REPLICA
            .replace("master_link_status:up", "master_link_status:down")
            .replace("master_sync_in_progress:0", "master_sync_in_progress:1");
        let upstream = RedisFacts::parse(&down)
            .unwrap()
            .neutral(None)
            .upstream
            .unwrap();
        assert_eq!(upstream.state, LinkState::CatchingUp);
        assert_eq!(upstream.last_message_age, None);
    }

    #[test]
    fn never_heard_and_no_role_read_as_unknown() {
        let never = REPLICA.replace(
            "master_last_io_seconds_ago:2",
            "master_last_io_seconds_ago:-1",
        );
        assert_eq!(RedisFacts::parse(&never).unwrap().last_io, None);
        assert_eq!(
            RedisFacts::parse("# Replication\r\nconnected_slaves:0\r\n"),
            None
        );
        assert_eq!(RedisFacts::parse("role:sentinel\r\n"), None);
    }
}
