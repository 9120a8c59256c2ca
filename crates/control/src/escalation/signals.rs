//! Each signal's state, read from what the controller and the cluster managers published, and
//! a scorecard's score. Pure: the published status in, readings out.

use std::fmt::Write;
use std::sync::Arc;

use lifeline_model::{
    Health, Lag, PoolState, Scorecard, Severity, Signal, SignalSource, StatusSnapshot, Topology,
};

use crate::cluster::{ClusterHealth, ClusterStatus};

/// What the signals read: the running config, the controller's latest snapshot (origins,
/// pools, load balancers) and every cluster's status.
pub struct World<'a> {
    pub topology: &'a Topology,
    pub status: &'a StatusSnapshot,
    pub clusters: &'a [Arc<ClusterStatus>],
}

/// One signal's state now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    pub on: bool,
    /// What it saw, for people: `down`, `healthy`, `20 MiB`, ...
    pub value: String,
}

/// A scorecard's score, and every signal's reading that made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    pub score: u32,
    pub readings: Vec<Reading>,
}

/// Reads every signal of `card`.
pub fn tally(card: &Scorecard, world: &World<'_>) -> Tally {
    let readings: Vec<Reading> = card.signals.iter().map(|s| read(s, world)).collect();
    let score = card
        .signals
        .iter()
        .zip(&readings)
        .filter(|(_, reading)| reading.on)
        .map(|(signal, _)| signal.weight)
        .fold(0u32, u32::saturating_add);
    Tally { score, readings }
}

/// `score 11: primary-down on (down, +8), db-lag off (0 B, 0 of 3)`: every signal's state,
/// value and weight, so that the event log alone says why a level was reached.
pub fn describe(card: &Scorecard, tally: &Tally) -> String {
    let mut text = format!("score {}:", tally.score);
    for (index, (signal, reading)) in card.signals.iter().zip(&tally.readings).enumerate() {
        let separator = if index == 0 { " " } else { ", " };
        let _ = if reading.on {
            write!(
                text,
                "{separator}{} on ({}, +{})",
                signal.name, reading.value, signal.weight
            )
        } else {
            write!(
                text,
                "{separator}{} off ({}, 0 of {})",
                signal.name, reading.value, signal.weight
            )
        };
    }
    text
}

/// One signal's state. A source the world does not show (a cluster not running yet) is off.
pub fn read(signal: &Signal, world: &World<'_>) -> Reading {
    match &signal.source {
        SignalSource::Pool { pool, when } => {
            match world.status.pools.iter().find(|p| p.name == *pool) {
                Some(pool) => state(pool_on(pool.state, *when), pool.state.as_str()),
                None => unknown(),
            }
        }
        SignalSource::Origin { origin } => world
            .status
            .pools
            .iter()
            .flat_map(|pool| &pool.origins)
            .find(|o| o.name == *origin)
            .map_or_else(unknown, |origin| {
                state(
                    origin.enabled && origin.health.health == Health::Unhealthy,
                    origin.health.health.as_str(),
                )
            }),
        SignalSource::LoadBalancer {
            load_balancer,
            when,
        } => load_balancer_reading(world, load_balancer.as_str(), *when),
        SignalSource::Cluster { cluster, when } => match find(world, cluster.as_str()) {
            Some(status) => {
                let down = status.writer.is_none();
                let on = match when {
                    Severity::Down => down,
                    Severity::Degraded => down || status.state != ClusterHealth::Healthy,
                };
                state(on, status.state.as_str())
            }
            None => unknown(),
        },
        SignalSource::Node { cluster, node } => find(world, cluster.as_str())
            .and_then(|status| status.nodes.iter().find(|n| n.name == *node))
            .map_or_else(unknown, |node| {
                state(!node.healthy, if node.healthy { "healthy" } else { "down" })
            }),
        SignalSource::Lag { cluster, above } => match find(world, cluster.as_str()) {
            Some(status) => lag_reading(status, *above),
            None => unknown(),
        },
    }
}

fn pool_on(pool: PoolState, when: Severity) -> bool {
    match when {
        Severity::Down => pool == PoolState::Down,
        Severity::Degraded => matches!(pool, PoolState::Down | PoolState::Degraded),
    }
}

/// Down: no pool it sends traffic to can serve. Degraded: it serves from another pool than
/// its first default pool (it failed over), or is down.
fn load_balancer_reading(world: &World<'_>, name: &str, when: Severity) -> Reading {
    let (Some(status), Some(config)) = (
        world
            .status
            .load_balancers
            .iter()
            .find(|lb| lb.name.as_str() == name),
        world.topology.load_balancer(name),
    ) else {
        return unknown();
    };
    let active = status.active_pool.as_ref();
    let serving = active.is_some_and(|pool| {
        world
            .status
            .pools
            .iter()
            .any(|p| p.name == *pool && p.state != PoolState::Down)
    });
    let primary = config.routes.default_pools.first();
    let (on, value) = match (serving, active) {
        (false, _) => (true, "down".to_string()),
        (true, Some(pool)) if Some(pool) != primary => {
            (when == Severity::Degraded, format!("failed over to {pool}"))
        }
        (true, _) => (false, "serving".to_string()),
    };
    Reading { on, value }
}

/// The most any standby lags, in the limit's unit.
fn lag_reading(status: &ClusterStatus, above: Lag) -> Reading {
    let standbys = status
        .nodes
        .iter()
        .filter(|n| Some(&n.name) != status.primary.as_ref() && n.role == "standby");
    match above {
        Lag::Bytes(limit) => {
            let worst = standbys.filter_map(|n| n.lag_bytes).max();
            Reading {
                on: worst.is_some_and(|lag| lag > limit),
                value: worst.map_or_else(|| "no standby lag known".into(), bytes),
            }
        }
        Lag::Time(limit) => {
            let worst = standbys
                .filter_map(|n| n.lag_seconds)
                .fold(None, |worst: Option<f64>, lag| {
                    Some(worst.map_or(lag, |w| w.max(lag)))
                });
            Reading {
                on: worst.is_some_and(|lag| lag > limit.as_secs_f64()),
                value: worst.map_or_else(|| "no standby lag known".into(), |s| format!("{s:.1}s")),
            }
        }
    }
}

fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn find<'a>(world: &'a World<'_>, cluster: &str) -> Option<&'a ClusterStatus> {
    world
        .clusters
        .iter()
        .map(Arc::as_ref)
        .find(|c| c.name.as_str() == cluster)
}

fn state(on: bool, value: &str) -> Reading {
    Reading {
        on,
        value: value.to_string(),
    }
}

fn unknown() -> Reading {
    state(false, "unknown")
}
