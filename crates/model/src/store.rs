//! `[store]` and `[instance]`: where Lifeline keeps its state, and which machine this is. One
//! machine keeps it in the embedded state file; several share it through etcd.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::names::InstanceName;
use crate::secret::Secret;
use crate::time::Timestamp;

/// `[store]`.
#[derive(Clone, Debug, PartialEq)]
pub enum StoreBackend {
    /// One machine: the state file of `[admin] state_file` (the default).
    Embedded,
    /// Several machines coordinated through etcd.
    Etcd(EtcdSettings),
}

/// How to reach etcd, and how leadership and shared health behave there.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdSettings {
    /// `http://host:port` or `https://host:port`, at least one.
    pub endpoints: Vec<String>,
    /// Every key Lifeline writes starts with it, so several deployments can share one etcd.
    pub prefix: String,
    /// The lease on the leader key and on each instance's published health: an instance that
    /// stops refreshing them loses them this long after.
    pub lease_ttl: Duration,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS to etcd: the CA that signs the servers' certificates, and a client certificate.
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub health_quorum: HealthQuorum,
}

/// How the leader turns the instances' views of an origin into its health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HealthQuorum {
    /// Down when most instances that report see it down: one instance's broken network does not
    /// fail an origin over (the default with 3 or more instances).
    Majority,
    /// Down when any instance sees it down.
    Any,
}

/// `[instance]`: this machine among the instances sharing one store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSettings {
    /// Unique per machine; in events and `/status`. Defaults to the host name.
    pub name: InstanceName,
}

/// One instance as `GET /status` lists it, and as each instance publishes itself in the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: InstanceName,
    pub role: InstanceRole,
    /// Where its admin API listens, so the others can ask it directly.
    pub admin: String,
    /// When this instance was last heard from (for the instance answering: its last check of
    /// the store).
    pub last_seen: Timestamp,
    /// The leader's fencing token as this instance knows it; `None` before any campaign.
    pub fencing_token: Option<u64>,
    /// Whether this instance's last call to the store succeeded.
    pub store_reachable: bool,
}

/// Whether an instance acts (the leader) or only serves traffic and watches (a follower).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceRole {
    Leader,
    Follower,
}
