//! [`RedisDriver`]: Redis behind the cluster seam. Each action is the command a Redis operator
//! (or Sentinel) would send: `REPLICAOF NO ONE` to promote, `REPLICAOF host port` to follow,
//! `CLIENT PAUSE ... WRITE` to fence and `CLIENT UNPAUSE` to unfence.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lifeline_model::{
    CheckFailure, ClusterDriver, ClusterNode, DriverError, DriverFuture, FailureKind, Finding,
    NodeDriver, NodeFacts, NodeName,
};

use crate::client::{RedisClient, RedisFailure};
use crate::facts::RedisFacts;
use crate::preflight::preflight;

/// A fence pauses writes at most this long, so that a master fenced by a Lifeline that then
/// died takes writes again on its own: Redis 7.0 does not report a pause, so a new leader
/// cannot see the fence to lift it (PostgreSQL's `primary_unfenced` path has nothing to act
/// on here). The pause must outlast a switchover that runs slowly: the catch-up and the
/// promotion are bounded by 10 s each, and each of the few commands between them by the
/// cluster's connect timeout, so 60 s leaves room twice over.
const FENCE_PAUSE: Duration = Duration::from_secs(60);
/// How often a promoted replica is asked whether it is master yet.
const PROMOTE_POLL: Duration = Duration::from_millis(20);

/// The driver of `kind = "redis"` clusters.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedisDriver;

// === impl RedisDriver ===

impl ClusterDriver for RedisDriver {
    fn connect(&self, node: &ClusterNode, timeout: Duration) -> Box<dyn NodeDriver> {
        Box::new(RedisClient::new(node, timeout))
    }

    /// An old master becomes a replica of the new one by `REPLICAOF`, as any replica follows:
    /// no command of the operator's is needed, and none is taken.
    fn rejoin<'a>(
        &'a self,
        _command: Option<&'a str>,
        node: &'a ClusterNode,
        primary: &'a ClusterNode,
        timeout: Duration,
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let mut client = RedisClient::new(node, timeout.min(Duration::from_secs(10)));
            replicate_from(&mut client, primary).await
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

// === impl RedisClient: the seam ===

impl NodeDriver for RedisClient {
    fn probe(&mut self) -> DriverFuture<'_, Result<NodeFacts, CheckFailure>> {
        Box::pin(async move {
            let (facts, keepalive) = read_facts(self).await?;
            Ok(facts.neutral(keepalive))
        })
    }

    fn connection_lost(&mut self) -> DriverFuture<'_, ()> {
        Box::pin(RedisClient::connection_lost(self))
    }

    fn promote(&mut self, wait: Duration) -> DriverFuture<'_, Result<Option<u32>, DriverError>> {
        Box::pin(async move {
            let _: () = self
                .query(redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
                .await
                .map_err(|f| action_error("promote", f))?;
            let started = Instant::now();
            loop {
                match read_facts(self).await {
                    Ok((facts, _)) if facts.master => {
                        // Or a restart would make it a replica of the old master again.
                        rewrite_config(self).await;
                        return Ok(None);
                    }
                    _ if started.elapsed() > wait => {
                        return Err(DriverError::new(format!(
                            "{}: REPLICAOF NO ONE sent, but it is not master after {wait:?}",
                            self.node()
                        )));
                    }
                    _ => tokio::time::sleep(PROMOTE_POLL).await,
                }
            }
        })
    }

    fn fence(&mut self) -> DriverFuture<'_, Result<u64, DriverError>> {
        Box::pin(async move {
            let millis = FENCE_PAUSE.as_millis().to_string();
            let _: () = self
                .query(redis::cmd("CLIENT").arg("PAUSE").arg(millis).arg("WRITE"))
                .await
                .map_err(|f| action_error("fence (CLIENT PAUSE WRITE)", f))?;
            // Paused: no write lands after this offset. The master's pings to its replicas go
            // on and move it on by a few bytes, which carry no data: a replica that reached
            // this offset has every write.
            let (facts, _) = read_facts(self)
                .await
                .map_err(|f| DriverError::new(f.message))?;
            facts.offset.ok_or_else(|| {
                DriverError::new(format!("{}: fenced, but it shows no offset", self.node()))
            })
        })
    }

    fn unfence(&mut self) -> DriverFuture<'_, Result<(), DriverError>> {
        Box::pin(async move {
            self.query(redis::cmd("CLIENT").arg("UNPAUSE"))
                .await
                .map_err(|f| action_error("unfence (CLIENT UNPAUSE)", f))
        })
    }

    fn follow<'a>(
        &'a mut self,
        primary: &'a ClusterNode,
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(replicate_from(self, primary))
    }

    /// A Redis master lists its replicas by address, never by a name they give themselves:
    /// there is nothing to adopt.
    fn adopt(&mut self) -> DriverFuture<'_, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }

    fn set_synchronous<'a>(
        &'a mut self,
        members: &'a [NodeName],
    ) -> DriverFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            if members.is_empty() {
                return Ok(());
            }
            Err(DriverError::new(
                "Redis replication is asynchronous: it has no synchronous replicas",
            ))
        })
    }
}

/// `INFO replication`, and `repl-ping-replica-period` (how often a master pings its replicas
/// when idle; `None` if `CONFIG` is not allowed), read once per connection.
async fn read_facts(
    client: &mut RedisClient,
) -> Result<(RedisFacts, Option<Duration>), CheckFailure> {
    let info: String = client.query(redis::cmd("INFO").arg("replication")).await?;
    let facts = RedisFacts::parse(&info).ok_or_else(|| {
        CheckFailure::new(
            FailureKind::Protocol,
            format!("{}: INFO replication shows no role", client.node()),
        )
    })?;
    let keepalive = match client.keepalive() {
        Some(known) => known,
        None => {
            let period: Result<HashMap<String, String>, RedisFailure> = client
                .query(
                    redis::cmd("CONFIG")
                        .arg("GET")
                        .arg("repl-ping-replica-period"),
                )
                .await;
            let keepalive = period
                .ok()
                .and_then(|config| config.values().next()?.parse().ok())
                .map(Duration::from_secs);
            client.remember_keepalive(keepalive);
            keepalive
        }
    };
    Ok((facts, keepalive))
}

/// Makes the node a replica of `primary` as Sentinel reconfigures one: `REPLICAOF`, then every
/// normal client disconnected (so nobody keeps writing to an old master, or reading from a
/// replica that is about to resync), then writes unpaused should it have been fenced, then
/// the config rewritten so that a restart keeps it a replica.
async fn replicate_from(
    client: &mut RedisClient,
    primary: &ClusterNode,
) -> Result<(), DriverError> {
    let _: () = client
        .query(
            redis::cmd("REPLICAOF")
                .arg(primary.host())
                .arg(primary.port()),
        )
        .await
        .map_err(|f| action_error("REPLICAOF", f))?;
    // SKIPME is on by default: Lifeline's own connection stays.
    let _: i64 = client
        .query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("normal"))
        .await
        .map_err(|f| action_error("CLIENT KILL TYPE normal", f))?;
    let _: () = client
        .query(redis::cmd("CLIENT").arg("UNPAUSE"))
        .await
        .map_err(|f| action_error("CLIENT UNPAUSE", f))?;
    rewrite_config(client).await;
    Ok(())
}

/// `CONFIG REWRITE`, so that the node keeps its new role across a restart, as Sentinel does.
async fn rewrite_config(client: &mut RedisClient) {
    let rewritten: Result<(), RedisFailure> =
        client.query(redis::cmd("CONFIG").arg("REWRITE")).await;
    if let Err(failure) = rewritten {
        // A node started without a config file, say: its role holds until it restarts, and
        // then its own config decides.
        tracing::info!(node = %client.node(), %failure, "CONFIG REWRITE refused: the new role holds until the node restarts");
    }
}

fn action_error(what: &str, failure: RedisFailure) -> DriverError {
    DriverError::new(format!("{what}: {failure}"))
}
