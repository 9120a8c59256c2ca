//! Which alerts fire now, from the published status. Pure: the world in, alerts out.

use std::collections::BTreeSet;

use lifeline_model::{AlertName, LoadBalancerName, PoolState};

use super::alert::Alert;
use crate::cluster::ClusterHealth;
use crate::escalation::{ScorecardStatus, World};

/// Every alert that fires now. `slow_failovers`: the load balancers whose current failover
/// took longer than their `rto_alert` (from the event log).
pub fn firing(
    world: &World<'_>,
    scorecards: &[ScorecardStatus],
    slow_failovers: &BTreeSet<LoadBalancerName>,
) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for pool in &world.status.pools {
        let name = pool.name.as_str();
        let healthy = format!(
            "{} of {} origins healthy",
            pool.healthy_origins,
            pool.origins.len()
        );
        match pool.state {
            PoolState::Down => alerts.push(
                Alert::new(AlertName::PoolDown, "critical", &[("pool", name)])
                    .annotate("summary", format!("pool {name} is down"))
                    .annotate(
                        "description",
                        format!("{healthy}; at least {} needed", pool.minimum_origins),
                    ),
            ),
            PoolState::Degraded => alerts.push(
                Alert::new(AlertName::PoolDegraded, "warning", &[("pool", name)])
                    .annotate("summary", format!("pool {name} is degraded"))
                    .annotate("description", healthy),
            ),
            PoolState::Healthy | PoolState::Unknown => {}
        }
    }
    for lb in &world.status.load_balancers {
        let name = lb.name.as_str();
        let first = world
            .topology
            .load_balancer(name)
            .and_then(|config| config.routes.default_pools.first());
        let serving = lb.active_pool.as_ref().map_or("no pool", |p| p.as_str());
        if lb.forced.is_none() && lb.active_pool.as_ref() != first {
            let first = first.map_or("-", |p| p.as_str());
            alerts.push(
                Alert::new(
                    AlertName::FailoverTriggered,
                    "warning",
                    &[("load_balancer", name)],
                )
                .annotate(
                    "summary",
                    format!("load balancer {name} failed over from pool {first}"),
                )
                .annotate("description", format!("traffic goes to {serving}")),
            );
            if slow_failovers.contains(&lb.name) {
                alerts.push(
                    Alert::new(
                        AlertName::RtoExceeded,
                        "critical",
                        &[("load_balancer", name)],
                    )
                    .annotate(
                        "summary",
                        format!("load balancer {name}'s failover took longer than its rto_alert"),
                    ),
                );
            }
        }
    }
    for cluster in world.clusters {
        if matches!(
            cluster.state,
            ClusterHealth::FailoverInProgress | ClusterHealth::FailoverComplete
        ) {
            let name = cluster.name.as_str();
            let primary = cluster.primary.as_ref().map_or("none yet", |p| p.as_str());
            alerts.push(
                Alert::new(AlertName::ClusterFailover, "critical", &[("cluster", name)])
                    .annotate("summary", format!("cluster {name} failed over"))
                    .annotate(
                        "description",
                        format!(
                            "state {}, primary {primary}, epoch {}",
                            cluster.state.as_str(),
                            cluster.epoch
                        ),
                    ),
            );
        }
    }
    for card in scorecards.iter().filter(|c| c.level > 0) {
        let name = card.name.as_str();
        alerts.push(
            Alert::new(AlertName::LevelChanged, "critical", &[("scorecard", name)])
                .annotate("level", card.level.to_string())
                .annotate(
                    "summary",
                    format!("scorecard {name} is at level {}", card.level),
                )
                .annotate("description", format!("score {}", card.score)),
        );
    }
    alerts
}
