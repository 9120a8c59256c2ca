//! The preflight of a Redis cluster: what on its nodes makes a failover slow or unsafe, read
//! from each node (`CONFIG GET`) and judged by [`evaluate`], which is pure.

use std::collections::HashMap;
use std::time::Duration;

use lifeline_model::{ClusterNode, Finding, NodeName};

use crate::client::RedisClient;

/// What one node's config says, as far as failover cares.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSettings {
    /// `requirepass` is set: clients, and replicas, must authenticate.
    pub requires_password: bool,
    /// `masterauth` is set: as a replica it authenticates to its master.
    pub has_masterauth: bool,
    /// `repl-ping-replica-period`.
    pub ping_period: Option<Duration>,
}

/// Reads every node within `timeout` and evaluates what it found.
pub async fn preflight(
    nodes: &[ClusterNode],
    check_interval: Duration,
    timeout: Duration,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for node in nodes {
        let mut client = RedisClient::new(node, timeout);
        match read(&mut client).await {
            Ok(settings) => findings.extend(evaluate(&node.name, &settings, check_interval)),
            Err(reason) => findings.push(Finding::new(
                &node.name,
                "unreachable",
                format!("Lifeline cannot reach it: {reason}"),
                "start the node, or correct its `address` or the cluster's `username`, \
                 `password` or TLS settings so that Lifeline can connect",
            )),
        }
    }
    findings
}

async fn read(client: &mut RedisClient) -> Result<NodeSettings, String> {
    let mut get = async |key: &str| -> Result<Option<String>, String> {
        let config: HashMap<String, String> = client
            .query(redis::cmd("CONFIG").arg("GET").arg(key))
            .await
            .map_err(|f| f.to_string())?;
        Ok(config.into_values().next())
    };
    // The values of `requirepass` and `masterauth` are secrets: only whether they are set
    // leaves this function.
    let requires_password = get("requirepass").await?.is_some_and(|v| !v.is_empty());
    let has_masterauth = get("masterauth").await?.is_some_and(|v| !v.is_empty());
    let ping_period = get("repl-ping-replica-period")
        .await?
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    Ok(NodeSettings {
        requires_password,
        has_masterauth,
        ping_period,
    })
}

/// The findings about one node's settings.
pub fn evaluate(
    node: &NodeName,
    settings: &NodeSettings,
    check_interval: Duration,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    if settings.requires_password && !settings.has_masterauth {
        findings.push(Finding::new(
            node,
            "masterauth_missing",
            "it requires a password but has no `masterauth`: once it is a replica of another \
             node (an old master after a failover, or any replica re-pointed), it cannot \
             authenticate to its master and never copies its data",
            "set `masterauth` to the same password in its redis.conf (every node may become a \
             replica), or run CONFIG SET masterauth and CONFIG REWRITE",
        ));
    }
    if let Some(period) = settings.ping_period.filter(|p| *p > check_interval * 2) {
        findings.push(Finding::new(
            node,
            "repl_ping_replica_period_long",
            format!(
                "repl-ping-replica-period is {}s: an idle master is heard by its replicas only \
                 this often, so a hung one (SIGSTOP, a stalled disk) counts as alive for up to \
                 {}s before Lifeline fails over",
                period.as_secs(),
                (period + check_interval).as_secs()
            ),
            "set `repl-ping-replica-period 1` in its redis.conf (CONFIG SET \
             repl-ping-replica-period 1 and CONFIG REWRITE)",
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(settings: NodeSettings) -> Vec<&'static str> {
        evaluate(&NodeName::new("r1"), &settings, Duration::from_secs(1))
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn a_password_without_masterauth_is_found() {
        let settings = NodeSettings {
            requires_password: true,
            has_masterauth: false,
            ping_period: Some(Duration::from_secs(1)),
        };
        assert_eq!(codes(settings.clone()), ["masterauth_missing"]);
        let with_auth = NodeSettings {
            has_masterauth: true,
            ..settings
        };
        assert!(codes(with_auth).is_empty());
    }

    #[test]
    fn redis_default_ping_period_is_found() {
        let settings = NodeSettings {
            ping_period: Some(Duration::from_secs(10)),
            ..NodeSettings::default()
        };
        assert_eq!(codes(settings), ["repl_ping_replica_period_long"]);
        let short = NodeSettings {
            ping_period: Some(Duration::from_secs(2)),
            ..NodeSettings::default()
        };
        assert!(codes(short).is_empty());
    }
}
