//! Lifeline's vocabulary, shared by every other crate.
//!
//! Everything here is plain data with no I/O: the validated [`Topology`] that the config crate
//! produces, the [`Observation`]s that monitors report, the per-origin [`OriginHealth`] and
//! [`PoolState`] that the controller decides, the [`Event`]s it records, and the [`StatusSnapshot`]
//! the admin API serves. Keeping it I/O-free lets the data plane and the decision logic depend on it
//! without pulling in the runtime.
//!
//! It also holds the cluster seam: the kind-neutral [`NodeFacts`] of a database node and the
//! [`ClusterDriver`] trait through which the cluster decisions reach a database of any kind.
//! The traits need only `std`, so they add no runtime here.

mod cluster;
mod driver;
mod dsn;
mod escalation;
mod event;
mod finding;
mod health;
mod load_balancer;
mod names;
mod notify;
mod observation;
mod pace;
mod redis_node;
mod replication;
mod routing;
mod secret;
mod status;
mod store;
mod time;
mod topology;

pub use cluster::{Cluster, ClusterKind, ClusterNode, NodeConnection};
pub use driver::{ClusterDriver, DriverError, DriverFuture, NodeDriver};
pub use dsn::{CertCheck, DSN_KEYS, DsnError, DsnProblem, PgDsn, SslMode};
pub use escalation::{Lag, MAX_LEVEL, SEED_LEVELS, Scorecard, Severity, Signal, SignalSource};
pub use event::{Event, EventKind, NewEvent};
pub use finding::{Finding, Preflight};
pub use health::{Health, OriginHealth, PoolState};
pub use load_balancer::{
    Cidr, Listener, LoadBalancer, Route, Rule, SessionAffinity, SteeringPolicy, TlsFiles,
};
pub use names::{
    ClusterName, InstanceName, LoadBalancerName, MonitorName, NodeName, OriginName, PoolName,
    ReceiverName, ScorecardName, SignalName,
};
pub use notify::{AlertName, Receiver, ReceiverKind};
pub use observation::{CheckFailure, FailureKind, Observation, PostgresFacts};
pub use pace::{Cadence, Pace, jittered};
pub use redis_node::{RedisNode, RedisTls};
pub use replication::{LinkState, NodeFacts, ReplicaLink, Role, Upstream};
pub use routing::{Ejection, ForceTarget, OriginRouting, PoolRouting, RoutingTable};
pub use secret::Secret;
pub use status::{LoadBalancerStatus, OriginStatus, PoolStatus, StatusSnapshot};
pub use store::{
    EtcdSettings, HealthQuorum, InstanceRole, InstanceSettings, InstanceStatus, StoreBackend,
};
pub use time::Timestamp;
pub use topology::{
    AdminLimits, AdminSettings, CodeMatcher, HostPort, HttpCheck, LogFormat, Monitor, MonitorKind,
    Origin, OriginProtocol, Pool, PostgresCheck, ProxySettings, Topology,
};
