//! `[[cluster]]`: a PostgreSQL replication group with a writer endpoint (always the current
//! primary) and a reader endpoint (healthy standbys), and what its nodes say about themselves.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Serialize;

use crate::names::{ClusterName, NodeName};
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub struct Cluster {
    pub name: ClusterName,
    pub nodes: Vec<ClusterNode>,
    /// Always the current primary. Clients never change their connection string.
    pub writer_listen: Option<SocketAddr>,
    /// Healthy standbys within `maximum_lag_on_failover`; the primary when there is none.
    pub reader_listen: Option<SocketAddr>,
    /// Time between two checks of a node.
    pub check_interval: Duration,
    /// Consecutive failed checks before the primary counts as down (seed 004: 3).
    pub failure_threshold: u32,
    /// Async mode: never promote a standby whose received WAL is further behind than this many
    /// bytes of the primary's last known position; also the reader endpoint's lag limit.
    pub maximum_lag_on_failover: u64,
    /// A standby that heard from the primary more recently than this says the primary is
    /// alive: only Lifeline's link to it is broken, so there is no failover.
    pub primary_silence: Duration,
    /// Lifeline keeps `synchronous_standby_names` on the primary equal to the healthy standbys.
    pub synchronous_mode: bool,
    /// With no healthy standby: writes block (true) or the cluster degrades to async (false).
    pub synchronous_mode_strict: bool,
    /// Fail over on its own; without it only an operator's trigger does.
    pub auto_failover: bool,
    /// New writer connections wait at most this long for a primary before they are refused.
    pub writer_wait: Duration,
    /// Run for a node that must rejoin as a standby (an old primary): `{node}`, `{host}`,
    /// `{port}`, `{primary_host}`, `{primary_port}` are replaced.
    pub rejoin_command: Option<String>,
}

impl Cluster {
    pub fn node(&self, name: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.name.as_str() == name)
    }
}

#[derive(Clone, Debug)]
pub struct ClusterNode {
    pub name: NodeName,
    pub dsn: PgDsn,
    /// Among standbys equally advanced, the higher priority is promoted first.
    pub priority: u32,
    /// Never promoted (a delayed or remote standby, say).
    pub no_failover: bool,
}

/// A libpq-style connection string, `key=value` pairs, with the password kept secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgDsn {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub dbname: String,
    /// Any other keys (`sslmode`, `connect_timeout`, ...), in order.
    pub options: Vec<(String, String)>,
}

impl PgDsn {
    /// Parses `host=... port=... user=... password=... dbname=...` (values may be single-quoted
    /// with `\'` and `\\` escapes, as libpq allows).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut dsn = PgDsn {
            host: String::new(),
            port: 5432,
            user: String::new(),
            password: None,
            dbname: "postgres".to_string(),
            options: Vec::new(),
        };
        for (key, value) in conninfo_pairs(text)? {
            match key.as_str() {
                "host" | "hostaddr" => dsn.host = value,
                "port" => {
                    dsn.port = value
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| format!("port `{value}` is not a port number"))?;
                }
                "user" => dsn.user = value,
                "password" => dsn.password = Some(Secret::new(value)),
                "dbname" => dsn.dbname = value,
                _ => dsn.options.push((key, value)),
            }
        }
        if dsn.host.is_empty() {
            return Err("the connection string has no `host`".to_string());
        }
        if dsn.user.is_empty() {
            return Err("the connection string has no `user`".to_string());
        }
        Ok(dsn)
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The full connection string, password included: only for a connection or for
    /// `primary_conninfo`, never for a log line (use `Display`, which hides the password).
    pub fn conninfo_with_secret(&self) -> String {
        self.render(true)
    }

    fn render(&self, with_password: bool) -> String {
        let mut pairs = vec![
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("user", self.user.clone()),
        ];
        match (&self.password, with_password) {
            (Some(password), true) => pairs.push(("password", password.expose().to_string())),
            (Some(_), false) => pairs.push(("password", "***".to_string())),
            (None, _) => {}
        }
        pairs.push(("dbname", self.dbname.clone()));
        let mut text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        text.extend(
            self.options
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(v))),
        );
        text.join(" ")
    }
}

impl fmt::Display for PgDsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Quotes a conninfo value when it needs it.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn conninfo_pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("`{key}` has no `=value`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("the value of `{key}` has no closing quote")),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())));
        }
        pairs.push((key, value));
    }
}

/// What one check of a PostgreSQL node found. Read from the node itself at check time, never
/// from shared state that could be stale.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeFacts {
    /// `pg_is_in_recovery()`.
    pub in_recovery: bool,
    pub timeline: Option<u32>,
    /// Primary: `pg_current_wal_lsn()`; standby: `pg_last_wal_receive_lsn()`. Bytes.
    pub wal_lsn: Option<u64>,
    /// Standby: `pg_last_wal_replay_lsn()`.
    pub replay_lsn: Option<u64>,
    /// Standby: its WAL receiver (`pg_stat_wal_receiver`), if one runs.
    pub receiver: Option<WalReceiver>,
    /// Primary: its standbys as it sees them (`pg_stat_replication`).
    pub replicas: Vec<ReplicaView>,
    /// The node's current `synchronous_standby_names`.
    pub synchronous_standby_names: String,
    /// The node's `wal_sender_timeout` in milliseconds: a primary sends its standbys a
    /// keepalive at least every half of it, so silence longer than that means trouble.
    pub wal_sender_timeout_ms: Option<u64>,
    /// `default_transaction_read_only`: on while Lifeline fences the node (switchover).
    pub read_only: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WalReceiver {
    /// `streaming`, `catchup`, `waiting`, ...
    pub status: String,
    pub sender_host: Option<String>,
    pub sender_port: Option<u16>,
    /// Milliseconds since the last message from the primary (`now() - last_msg_receipt_time`).
    pub last_message_age_ms: Option<u64>,
    pub received_timeline: Option<u32>,
    /// Flushed WAL position it reported.
    pub flushed_lsn: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplicaView {
    pub application_name: String,
    /// `streaming`, `catchup`, ...
    pub state: String,
    /// `sync`, `quorum`, `async`, `potential`.
    pub sync_state: String,
    pub flush_lsn: Option<u64>,
    pub replay_lsn: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_dsns_without_showing_the_password() {
        let dsn = PgDsn::parse("host=127.0.0.1 port=5433 user=lifeline password='s3 cr\\'et' dbname=app sslmode=disable").unwrap();
        assert_eq!(dsn.host, "127.0.0.1");
        assert_eq!(dsn.port, 5433);
        assert_eq!(dsn.password.as_ref().unwrap().expose(), "s3 cr'et");
        assert_eq!(
            dsn.options,
            vec![("sslmode".to_string(), "disable".to_string())]
        );
        assert_eq!(
            dsn.to_string(),
            "host=127.0.0.1 port=5433 user=lifeline password=*** dbname=app sslmode=disable"
        );
        assert_eq!(
            dsn.conninfo_with_secret(),
            "host=127.0.0.1 port=5433 user=lifeline password='s3 cr\\'et' dbname=app sslmode=disable"
        );
        assert_eq!(PgDsn::parse(&dsn.conninfo_with_secret()).unwrap(), dsn);
    }

    #[test]
    fn rejects_broken_dsns() {
        for bad in [
            "port=5432 user=x",
            "host=h",
            "host=h user=u port=abc",
            "host",
            "host=h user=u password='open",
        ] {
            assert!(PgDsn::parse(bad).is_err(), "{bad}");
        }
    }
}
