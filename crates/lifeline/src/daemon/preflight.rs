//! The daemon's preflight: every cluster's nodes are checked as `lifeline doctor` checks them,
//! at start, every [`REFRESH`] and right after a failover (the epoch grew), so that
//! `GET /failover/health` shows what holds now. A finding is logged (one warn line) when it
//! appears and once more (info) when it clears, never again while it stays.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use lifeline_admin::PreflightResults;
use lifeline_control::cluster::ClusterHandle;
use lifeline_model::{Cluster, ClusterName, Finding, Preflight, Timestamp, Topology};

use crate::drivers::driver;

/// How often every cluster is checked again.
const REFRESH: Duration = Duration::from_secs(60);
/// How often the loop looks for a failover (an epoch that grew) and for a cluster that is due.
const TICK: Duration = Duration::from_secs(1);

/// Runs until `stop` resolves. `clusters` gives the running managers (for their epochs), and
/// `running` the running config, so that a reload's clusters are the ones checked.
pub async fn run(
    running: Arc<ArcSwap<Topology>>,
    clusters: impl Fn() -> Vec<ClusterHandle>,
    results: PreflightResults,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut seen: HashMap<ClusterName, Seen> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let topology = running.load_full();
        let handles = clusters();
        let epoch_of = |name: &ClusterName| {
            handles
                .iter()
                .find(|handle| handle.name == *name)
                .map(|handle| handle.status.load().epoch)
        };
        for cluster in &topology.clusters {
            let epoch = epoch_of(&cluster.name);
            let due = match seen.get(&cluster.name) {
                None => true,
                Some(last) => last.at.elapsed() >= REFRESH || epoch > last.epoch,
            };
            if due {
                let findings = tokio::select! {
                    () = &mut stop => return,
                    findings = check(cluster) => findings,
                };
                let before = results
                    .load()
                    .get(&cluster.name)
                    .map(|p| p.findings.clone());
                log_changes(&cluster.name, before.as_deref().unwrap_or(&[]), &findings);
                publish(&results, &cluster.name, findings);
                seen.insert(
                    cluster.name.clone(),
                    Seen {
                        at: Instant::now(),
                        epoch,
                    },
                );
            }
        }
        // A cluster a reload removed is no longer shown.
        seen.retain(|name, _| topology.clusters.iter().any(|c| c.name == *name));
        if results.load().keys().any(|name| !seen.contains_key(name)) {
            results.rcu(|map| {
                let mut map = HashMap::clone(map);
                map.retain(|name, _| seen.contains_key(name));
                map
            });
        }
    }
}

/// When a cluster was last checked, and at which epoch.
struct Seen {
    at: Instant,
    epoch: Option<u64>,
}

/// The cluster's findings; each node gets what the cluster loop gives its own calls.
async fn check(cluster: &Cluster) -> Vec<Finding> {
    let timeout = cluster.check_interval.max(Duration::from_secs(2));
    driver(cluster.kind)
        .preflight(&cluster.nodes, cluster.check_interval, timeout)
        .await
}

fn publish(results: &PreflightResults, cluster: &ClusterName, findings: Vec<Finding>) {
    let preflight = Preflight {
        checked_at: Timestamp::now(),
        findings,
    };
    results.rcu(|map| {
        let mut map = HashMap::clone(map);
        map.insert(cluster.clone(), preflight.clone());
        map
    });
}

fn log_changes(cluster: &ClusterName, before: &[Finding], now: &[Finding]) {
    let (appeared, cleared) = changes(before, now);
    for finding in appeared {
        tracing::warn!(
            %cluster, node = %finding.node, code = finding.code, fix = %finding.fix,
            "preflight: {}", finding.problem
        );
    }
    for finding in cleared {
        tracing::info!(%cluster, node = %finding.node, code = finding.code, "preflight: cleared");
    }
}

/// The findings of `now` that `before` did not have, and those of `before` that are gone; a
/// finding is the same while its node and code are.
fn changes<'a>(before: &'a [Finding], now: &'a [Finding]) -> (Vec<&'a Finding>, Vec<&'a Finding>) {
    let same = |a: &Finding, b: &Finding| a.node == b.node && a.code == b.code;
    let appeared = now
        .iter()
        .filter(|f| !before.iter().any(|b| same(f, b)))
        .collect();
    let cleared = before
        .iter()
        .filter(|f| !now.iter().any(|n| same(f, n)))
        .collect();
    (appeared, cleared)
}

#[cfg(test)]
mod tests {
    use lifeline_model::NodeName;

    use super::*;

    #[test]
    fn a_finding_is_new_once_and_cleared_once() {
        let (pg1, pg2) = (NodeName::new("pg1"), NodeName::new("pg2"));
        let before = vec![
            Finding::new(&pg1, "unreachable", "refused", "start it"),
            Finding::new(&pg2, "wal_sender_timeout_default", "60s", "5s"),
        ];
        // The same node and code with another text (a new reason) is not new.
        let now = vec![
            Finding::new(&pg1, "unreachable", "timed out", "start it"),
            Finding::new(&pg2, "pg_rewind_impossible", "off", "on"),
        ];
        let (appeared, cleared) = changes(&before, &now);
        assert_eq!(appeared, [&now[1]]);
        assert_eq!(cleared, [&before[1]]);
        let (appeared, cleared) = changes(&[], &now);
        assert_eq!((appeared.len(), cleared.len()), (2, 0));
    }
}
