//! The controller's state and the one function that changes it.

use std::collections::HashMap;
use std::sync::Arc;

use lifeline_model::{
    Ejection, EventKind, ForceTarget, Health, LoadBalancerName, NewEvent, Observation,
    OriginHealth, OriginName, PoolState, Timestamp, Topology,
};

use super::failover::{Active, PoolView, active_pool, failover_events};
use super::hysteresis::{Thresholds, Transition, eject, observe};
use super::overrides::Overrides;
use super::pool::{PoolCounts, pool_state};
use super::quorum::Verdict;

/// Something the controller must take into account.
#[derive(Debug)]
pub enum Input {
    /// A monitor's check result.
    Observation(Observation),
    /// Live traffic failed an origin `eject_after` times in a row.
    Ejection(Ejection),
    /// A new, already validated config.
    Reload(Arc<Topology>),
    /// Pin a load balancer to a pool or origin, or clear the pin (`None`). Checked beforehand
    /// with [`check_force`](super::check_force).
    Force {
        load_balancer: LoadBalancerName,
        target: Option<ForceTarget>,
    },
    /// Stop (or resume) sending new requests to an origin.
    Drain { origin: OriginName, draining: bool },
    /// The leader's decisions on origins' health from every instance's view (shared health,
    /// see [`State::share_health`]); `None` leaves an origin to this instance's own view. Many
    /// at once cost one routing table, not one each.
    Verdicts {
        decisions: Vec<(OriginName, Option<Verdict>)>,
        at: Timestamp,
    },
}

/// Something the edges must carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Append to the event log.
    Record(NewEvent),
    /// Store an override so it survives a restart; `None` deletes it.
    Persist { key: String, value: Option<Vec<u8>> },
    /// Health or overrides changed: the data plane needs a new routing table.
    PublishRouting,
    /// This instance's own view of an origin changed: the other instances must hear of it
    /// (shared health only).
    ShareView,
}

/// Every origin's and pool's health, the overrides and each load balancer's active pool.
#[derive(Clone, Debug)]
pub struct State {
    topology: Arc<Topology>,
    origins: HashMap<OriginName, OriginEntry>,
    /// In the topology's pool order.
    pools: Vec<PoolEntry>,
    overrides: Overrides,
    /// In the topology's load balancer order.
    active: Vec<Active>,
    /// Whether origins' health is decided by the leader from every instance's view.
    shares_health: bool,
}

#[derive(Clone, Debug)]
struct OriginEntry {
    pool: usize,
    enabled: bool,
    /// `None` for an origin whose pool has no monitor: it counts as healthy.
    thresholds: Option<Thresholds>,
    /// This instance's own record: its checks through the hysteresis.
    health: OriginHealth,
    /// The leader's decision, when health is shared and the leader has decided.
    verdict: Option<Health>,
    /// When it last came back from unhealthy: the start of its slow-start ramp.
    healthy_since: Option<Timestamp>,
}

impl OriginEntry {
    fn effective(&self) -> Health {
        self.verdict.unwrap_or(self.health.health)
    }

    /// The record `GET /status` shows: this instance's checks, with the health it routes by.
    fn shown(&self) -> OriginHealth {
        OriginHealth {
            health: self.effective(),
            ..self.health.clone()
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct PoolEntry {
    state: PoolState,
    /// When it last came back from down: the start of its failback ramp.
    serving_since: Option<Timestamp>,
}

/// Applies one input to the state and returns what must be done about it.
pub fn decide(state: &mut State, input: Input, now: Timestamp) -> Vec<Action> {
    let mut actions = match input {
        Input::Observation(observation) => state.observe(&observation),
        Input::Ejection(ejection) => state.eject(&ejection),
        Input::Reload(topology) => state.reload(topology, now),
        Input::Force {
            load_balancer,
            target,
        } => state.force(load_balancer, target, now),
        Input::Drain { origin, draining } => state.drain(origin, draining, now),
        Input::Verdicts { decisions, at } => decisions
            .into_iter()
            .flat_map(|(origin, verdict)| state.verdict(&origin, verdict, at))
            .collect(),
    };
    // Only a shared view changed: nothing moves here.
    if actions.iter().any(|action| *action != Action::ShareView) {
        actions.extend(state.refresh_active(now));
        actions.push(Action::PublishRouting);
    }
    actions
}

// === impl State ===

impl State {
    /// The state at start: every monitored origin unknown. `overrides` must name only what
    /// `topology` has (see [`Overrides::retain_valid`]).
    pub fn new(topology: Arc<Topology>, overrides: Overrides) -> Self {
        let origins = fresh_origins(&topology);
        let mut state = Self {
            active: vec![Active::Unset; topology.load_balancers.len()],
            topology,
            origins,
            pools: Vec::new(),
            overrides,
            shares_health: false,
        };
        state.pools = (0..state.topology.pools.len())
            .map(|pool| PoolEntry {
                state: state.compute_pool_state(pool),
                serving_since: None,
            })
            .collect();
        state.refresh_active(Timestamp::from_millis(0));
        state
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn overrides(&self) -> &Overrides {
        &self.overrides
    }

    /// This instance's own record of an origin: its checks through the hysteresis. With shared
    /// health the origin's health is [`health_of`](Self::health_of).
    pub fn origin(&self, name: &str) -> Option<&OriginHealth> {
        self.origins.get(name).map(|entry| &entry.health)
    }

    /// The health an origin is routed by: the leader's decision when health is shared and the
    /// leader has decided, this instance's own view otherwise.
    pub fn health_of(&self, name: &str) -> Option<Health> {
        self.origins.get(name).map(OriginEntry::effective)
    }

    pub fn pool_state(&self, name: &str) -> Option<PoolState> {
        let index = self
            .topology
            .pools
            .iter()
            .position(|p| p.name.as_str() == name)?;
        Some(self.pools[index].state)
    }

    /// The state of the pool at `index` in the topology's pool order.
    pub fn pool_state_at(&self, index: usize) -> PoolState {
        self.pools[index].state
    }

    /// The index (in the topology's pool order) of the pool an origin belongs to.
    pub fn pool_index_of(&self, origin: &str) -> Option<usize> {
        self.origins.get(origin).map(|entry| entry.pool)
    }

    /// True once every enabled, monitored origin has a result.
    pub fn all_checked(&self) -> bool {
        self.origins
            .values()
            .filter(|entry| entry.enabled && entry.thresholds.is_some())
            .all(|entry| entry.health.last_check.is_some())
    }

    fn observe(&mut self, observation: &Observation) -> Vec<Action> {
        // An observation may arrive for an origin a reload just removed; it is stale.
        let Some(entry) = self.origins.get_mut(&observation.origin) else {
            return Vec::new();
        };
        let (Some(thresholds), true) = (entry.thresholds, entry.enabled) else {
            return Vec::new();
        };
        let Some(transition) = observe(&mut entry.health, observation, thresholds) else {
            return Vec::new();
        };
        let kind = match transition.to {
            Health::Healthy => EventKind::OriginUp,
            Health::Unhealthy | Health::Unknown => EventKind::OriginDown,
        };
        self.own_transition(&observation.origin, kind, &transition, observation.at)
    }

    /// Takes a healthy, monitored origin out at once; its monitor brings it back after `rise`
    /// successes. An origin without a monitor is never ejected: nothing would bring it back.
    fn eject(&mut self, ejection: &Ejection) -> Vec<Action> {
        let Some(entry) = self.origins.get_mut(&ejection.origin) else {
            return Vec::new();
        };
        if entry.thresholds.is_none() || !entry.enabled {
            return Vec::new();
        }
        let Some(transition) = eject(&mut entry.health, ejection) else {
            return Vec::new();
        };
        self.own_transition(
            &ejection.origin,
            EventKind::OriginEjected,
            &transition,
            ejection.at,
        )
    }

    /// This instance's own view of an origin changed. It decides the origin's health unless the
    /// leader does (shared health, once the leader has decided): then it is only shared.
    fn own_transition(
        &mut self,
        origin: &OriginName,
        kind: EventKind,
        transition: &Transition,
        at: Timestamp,
    ) -> Vec<Action> {
        let entry = self.origins.get_mut(origin).expect("the caller found it");
        let mut actions = Vec::new();
        if self.shares_health {
            actions.push(Action::ShareView);
            if entry.verdict.is_some() {
                return actions;
            }
        }
        if transition.from == Health::Unhealthy && transition.to == Health::Healthy {
            entry.healthy_since = Some(at);
        }
        let pool = entry.pool;
        actions.push(origin_event(kind, origin, transition, at));
        actions.extend(self.refresh_pool(pool, at));
        actions
    }

    fn reload(&mut self, topology: Arc<Topology>, now: Timestamp) -> Vec<Action> {
        let mut origins = fresh_origins(&topology);
        let mut kept = 0;
        for (name, entry) in &mut origins {
            let Some(old) = self.origins.get(name) else {
                continue;
            };
            if self.same_origin(name, old, &topology, entry) {
                entry.health = old.health.clone();
                entry.verdict = old.verdict;
                entry.healthy_since = old.healthy_since;
                kept += 1;
            }
        }
        let added = origins
            .keys()
            .filter(|n| !self.origins.contains_key(*n))
            .count();
        let removed = self
            .origins
            .keys()
            .filter(|n| !origins.contains_key(*n))
            .count();
        let old_pools: HashMap<_, _> = self
            .topology
            .pools
            .iter()
            .map(|pool| pool.name.clone())
            .zip(self.pools.iter().copied())
            .collect();
        let old_active: HashMap<_, _> = self
            .topology
            .load_balancers
            .iter()
            .map(|lb| lb.name.clone())
            .zip(self.active.iter().cloned())
            .collect();

        self.topology = topology;
        self.origins = origins;
        self.pools = (0..self.topology.pools.len())
            .map(|index| {
                let old = old_pools.get(&self.topology.pools[index].name);
                PoolEntry {
                    state: self.compute_pool_state(index),
                    serving_since: old.and_then(|entry| entry.serving_since),
                }
            })
            .collect();
        self.active = self
            .topology
            .load_balancers
            .iter()
            .map(|lb| old_active.get(&lb.name).cloned().unwrap_or(Active::Unset))
            .collect();

        let reason = format!(
            "{} pools, {} origins: {added} added, {removed} removed, {kept} kept their health",
            self.topology.pools.len(),
            self.origins.len()
        );
        let mut actions = vec![Action::Record(NewEvent::new(
            now,
            EventKind::ConfigReloaded,
            "config",
            reason,
        ))];
        for key in self.overrides.retain_valid(&self.topology) {
            actions.push(Action::Persist { key, value: None });
        }
        for (pool, entry) in self.topology.pools.iter().zip(&self.pools) {
            let old = old_pools
                .get(&pool.name)
                .map_or(PoolState::Unknown, |e| e.state);
            if old != entry.state {
                actions.push(Action::Record(pool_event(
                    pool.name.as_str(),
                    old,
                    entry.state,
                    "config reloaded",
                    now,
                )));
            }
        }
        actions
    }

    /// Whether an origin in the new topology is the one the old topology had under that name:
    /// same pool, address, monitor and still enabled. Only then does its health carry over.
    fn same_origin(
        &self,
        name: &OriginName,
        old: &OriginEntry,
        topology: &Topology,
        new: &OriginEntry,
    ) -> bool {
        let old_pool = &self.topology.pools[old.pool];
        let new_pool = &topology.pools[new.pool];
        let address = |pool: &lifeline_model::Pool| {
            pool.origins
                .iter()
                .find(|o| &o.name == name)
                .map(|o| o.address.clone())
        };
        old.enabled
            && new.enabled
            && old_pool.name == new_pool.name
            && old_pool.monitor == new_pool.monitor
            && address(old_pool) == address(new_pool)
    }

    fn refresh_pool(&mut self, pool: usize, at: Timestamp) -> Option<Action> {
        let new = self.compute_pool_state(pool);
        let entry = &mut self.pools[pool];
        let old = std::mem::replace(&mut entry.state, new);
        if old == PoolState::Down && new.is_serving() {
            entry.serving_since = Some(at);
        }
        (old != new).then(|| {
            let definition = &self.topology.pools[pool];
            let counts = self.pool_counts(pool);
            let reason = format!(
                "{} of {} enabled origins healthy, minimum {}",
                counts.healthy, counts.enabled, definition.minimum_origins
            );
            Action::Record(pool_event(definition.name.as_str(), old, new, &reason, at))
        })
    }

    /// Recomputes where each load balancer's traffic goes; a move is an event.
    fn refresh_active(&mut self, now: Timestamp) -> Vec<Action> {
        let views: Vec<PoolView> = (0..self.topology.pools.len())
            .map(|index| self.pool_view(index))
            .collect();
        let mut actions = Vec::new();
        for (index, lb) in self.topology.load_balancers.iter().enumerate() {
            let forced = match self.overrides.forced.get(&lb.name) {
                Some(ForceTarget::Pool(pool)) => Some(pool),
                _ => None,
            };
            let new = active_pool(lb, forced, &views);
            if new == Active::Unset {
                continue;
            }
            let old = std::mem::replace(&mut self.active[index], new.clone());
            actions.extend(
                failover_events(lb, &old, &new, &views, now)
                    .into_iter()
                    .map(Action::Record),
            );
        }
        actions
    }

    fn pool_view(&self, index: usize) -> PoolView {
        let pool = &self.topology.pools[index];
        PoolView {
            name: pool.name.clone(),
            serving: self.pools[index].state.is_serving(),
            unknown: self.pools[index].state == PoolState::Unknown,
            trouble_since: pool
                .origins
                .iter()
                .filter_map(|o| self.origins[&o.name].health.down_since)
                .max(),
        }
    }

    fn compute_pool_state(&self, pool: usize) -> PoolState {
        pool_state(
            self.pool_counts(pool),
            self.topology.pools[pool].minimum_origins,
        )
    }

    /// How many of the pool's enabled origins are healthy and not yet checked.
    pub fn pool_counts(&self, pool: usize) -> PoolCounts {
        let mut counts = PoolCounts::default();
        for origin in self.topology.pools[pool]
            .origins
            .iter()
            .filter(|o| o.enabled)
        {
            counts.enabled += 1;
            match self.origins[&origin.name].effective() {
                Health::Healthy => counts.healthy += 1,
                Health::Unknown => counts.unknown += 1,
                Health::Unhealthy => {}
            }
        }
        counts
    }
}

/// Every origin of a topology in its starting health: unknown until checked, or healthy at once
/// when its pool has no monitor.
fn fresh_origins(topology: &Topology) -> HashMap<OriginName, OriginEntry> {
    let mut origins = HashMap::new();
    for (index, pool) in topology.pools.iter().enumerate() {
        let thresholds = pool
            .monitor
            .as_ref()
            .and_then(|name| topology.monitor(name.as_str()))
            .map(|monitor| Thresholds {
                fall: monitor.retries,
                rise: monitor.rise,
            });
        for origin in &pool.origins {
            let health = match thresholds {
                None if origin.enabled => Health::Healthy,
                _ => Health::Unknown,
            };
            origins.insert(
                origin.name.clone(),
                OriginEntry {
                    pool: index,
                    enabled: origin.enabled,
                    thresholds,
                    health: OriginHealth::new(health),
                    verdict: None,
                    healthy_since: None,
                },
            );
        }
    }
    origins
}

fn origin_event(
    kind: EventKind,
    origin: &OriginName,
    transition: &Transition,
    at: Timestamp,
) -> Action {
    Action::Record(
        NewEvent::new(at, kind, origin.as_str(), transition.reason.clone())
            .transition(transition.from.as_str(), transition.to.as_str()),
    )
}

fn pool_event(pool: &str, old: PoolState, new: PoolState, reason: &str, at: Timestamp) -> NewEvent {
    NewEvent::new(at, EventKind::PoolStateChanged, pool, reason)
        .transition(old.as_str(), new.as_str())
}

#[path = "operator.rs"]
mod operator;
#[path = "published.rs"]
mod published;
#[path = "shared.rs"]
mod shared;

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "routing_tests.rs"]
mod routing_tests;
