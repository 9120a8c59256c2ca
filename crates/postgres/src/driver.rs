//! [`PgDriver`]: PostgreSQL behind the cluster seam. [`NodeClient`] is its connection to a node;
//! this module only translates: PostgreSQL's facts into the kind-neutral ones, a synchronous set
//! into `synchronous_standby_names`, [`PgError`]s into driver errors.

use std::time::Duration;

use lifeline_model::{
    CheckFailure, ClusterDriver, ClusterNode, DriverError, DriverFuture, Finding, NodeDriver,
    NodeFacts, NodeName, ReplicaLink, Role, Upstream,
};

use crate::client::NodeClient;
use crate::error::PgError;
use crate::facts::PgFacts;
use crate::preflight::preflight;
use crate::rejoin::run_rejoin;
use crate::sync::{members_of, sync_value};

/// The driver of `kind = "postgres"` clusters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PgDriver;

// === impl PgDriver ===

impl ClusterDriver for PgDriver {
    fn connect(&self, node: &ClusterNode, timeout: Duration) -> Box<dyn NodeDriver> {
        Box::new(NodeClient::new(node, timeout))
    }

    fn rejoin<'a>(
        &'a self,
        command: Option<&'a str>,
        node: &'a ClusterNode,
        primary: &'a ClusterNode,
        timeout: Duration,
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let Some(command) = command else {
                return Err(DriverError::new(format!(
                    "{}: an old PostgreSQL primary rejoins only by a `rejoin_command`",
                    node.name
                )));
            };
            run_rejoin(command, node, primary, timeout)
                .await
                .map_err(DriverError::from)
        })
    }

    fn preflight<'a>(
        &'a self,
        nodes: &'a [ClusterNode],
        check_interval: Duration,
        timeout: Duration,
    ) -> DriverFuture<'a, Vec<Finding>> {
        Box::pin(preflight(nodes, check_interval, timeout))
    }
}

// === impl NodeClient ===

impl NodeDriver for NodeClient {
    fn probe(&mut self) -> DriverFuture<'_, Result<NodeFacts, CheckFailure>> {
        Box::pin(async move { NodeClient::probe(self).await.map(|facts| neutral(&facts)) })
    }

    fn connection_lost(&mut self) -> DriverFuture<'_, ()> {
        Box::pin(NodeClient::connection_lost(self))
    }

    fn promote(&mut self, wait: Duration) -> DriverFuture<'_, Result<Option<u32>, DriverError>> {
        Box::pin(async move {
            NodeClient::promote(self, wait)
                .await
                .map(Some)
                .map_err(Into::into)
        })
    }

    fn fence(&mut self) -> DriverFuture<'_, Result<u64, DriverError>> {
        Box::pin(async move { NodeClient::fence(self).await.map_err(Into::into) })
    }

    fn unfence(&mut self) -> DriverFuture<'_, Result<(), DriverError>> {
        Box::pin(async move { NodeClient::unfence(self).await.map_err(Into::into) })
    }

    fn follow<'a>(
        &'a mut self,
        primary: &'a ClusterNode,
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            // The standby streams under its node name, which the synchronous set lists.
            let name = self.node().to_string();
            NodeClient::follow(self, primary, &name)
                .await
                .map_err(Into::into)
        })
    }

    fn adopt(&mut self) -> DriverFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            let name = self.node().to_string();
            self.stream_as(&name).await.map_err(Into::into)
        })
    }

    fn set_synchronous<'a>(
        &'a mut self,
        members: &'a [NodeName],
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            self.set_synchronous_standby_names(&sync_value(members))
                .await
                .map_err(Into::into)
        })
    }
}

// === impl DriverError ===

impl From<PgError> for DriverError {
    fn from(error: PgError) -> Self {
        DriverError::new(error.to_string())
    }
}

/// PostgreSQL's facts in the cluster seam's words.
pub(crate) fn neutral(facts: &PgFacts) -> NodeFacts {
    NodeFacts {
        role: if facts.in_recovery {
            Role::Replica
        } else {
            Role::Primary
        },
        timeline: facts.timeline,
        position: facts.wal_lsn,
        applied: facts.replay_lsn,
        lag_seconds: facts.replay_delay_seconds,
        upstream: facts.receiver.as_ref().map(|receiver| Upstream {
            host: receiver.sender_host.clone(),
            port: receiver.sender_port,
            state: receiver.status,
            last_message_age: receiver.last_message_age_ms.map(Duration::from_millis),
            name: receiver.application_name.clone(),
        }),
        replicas: facts
            .replicas
            .iter()
            .map(|replica| ReplicaLink {
                name: replica.application_name.clone(),
                state: replica.state,
                synchronous: matches!(replica.sync_state.as_str(), "sync" | "quorum"),
                flushed: replica.flush_lsn,
                applied: replica.replay_lsn,
            })
            .collect(),
        synchronous: members_of(&facts.synchronous_standby_names),
        // The primary sends a keepalive at least every half of `wal_sender_timeout`.
        keepalive: facts
            .wal_sender_timeout_ms
            .map(|ms| Duration::from_millis(ms / 2)),
        fenced: facts.read_only,
    }
}

#[cfg(test)]
mod tests {
    use lifeline_model::LinkState;

    use super::*;
    use crate::facts::{ReplicaView, WalReceiver};

    #[test]
    fn a_standby_in_neutral_words() {
        let facts = PgFacts {
            in_recovery: true,
            timeline: Some(2),
            wal_lsn: Some(900),
            replay_lsn: Some(800),
            replay_delay_seconds: Some(0.5),
            receiver: Some(WalReceiver {
                status: LinkState::Streaming,
                sender_host: Some("10.0.0.1".into()),
                sender_port: Some(5433),
                last_message_age_ms: Some(120),
                received_timeline: Some(2),
                flushed_lsn: Some(900),
                application_name: Some("walreceiver".into()),
            }),
            replicas: Vec::new(),
            synchronous_standby_names: String::new(),
            wal_sender_timeout_ms: Some(2000),
            read_only: false,
        };
        let neutral = neutral(&facts);
        assert_eq!(neutral.role, Role::Replica);
        assert_eq!((neutral.position, neutral.applied), (Some(900), Some(800)));
        assert_eq!(neutral.lag_seconds, Some(0.5));
        let upstream = neutral.streaming_upstream().expect("it streams");
        assert_eq!(upstream.port, Some(5433));
        assert_eq!(upstream.last_message_age, Some(Duration::from_millis(120)));
        assert_eq!(upstream.name.as_deref(), Some("walreceiver"));
        assert_eq!(neutral.keepalive, Some(Duration::from_secs(1)));
        assert!(neutral.synchronous.is_empty());
    }

    #[test]
    fn a_primary_in_neutral_words() {
        let replica = |name: &str, sync_state: &str| ReplicaView {
            application_name: name.into(),
            state: LinkState::Streaming,
            sync_state: sync_state.into(),
            flush_lsn: Some(10),
            replay_lsn: Some(9),
        };
        let facts = PgFacts {
            in_recovery: false,
            timeline: Some(1),
            wal_lsn: Some(10),
            replay_lsn: None,
            replay_delay_seconds: None,
            receiver: None,
            replicas: vec![replica("pg2", "quorum"), replica("pg3", "async")],
            synchronous_standby_names: r#"ANY 1 ("pg2", "pg3")"#.into(),
            wal_sender_timeout_ms: None,
            read_only: true,
        };
        let neutral = neutral(&facts);
        assert!(neutral.is_primary() && neutral.fenced);
        assert_eq!(neutral.synchronous, ["pg2", "pg3"]);
        let synchronous: Vec<bool> = neutral.replicas.iter().map(|r| r.synchronous).collect();
        assert_eq!(synchronous, [true, false]);
        assert_eq!(neutral.keepalive, None);
    }
}
