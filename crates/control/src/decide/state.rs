//! The controller's state and the one function that changes it.

use std::collections::HashMap;
use std::sync::Arc;

use lifeline_model::{
    EventKind, Health, NewEvent, Observation, OriginHealth, OriginName, OriginStatus, PoolState,
    PoolStatus, StatusSnapshot, Timestamp, Topology,
};

use super::hysteresis::{Thresholds, Transition, observe};
use super::pool::{PoolCounts, pool_state};

/// Something the controller must take into account.
#[derive(Debug)]
pub enum Input {
    /// A monitor's check result.
    Observation(Observation),
    /// A new, already validated config.
    Reload(Arc<Topology>),
}

/// Something the edges must carry out.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Append to the event log.
    Record(NewEvent),
}

/// Every origin's and pool's health under one topology.
#[derive(Clone, Debug)]
pub struct State {
    topology: Arc<Topology>,
    origins: HashMap<OriginName, OriginEntry>,
    /// In the topology's pool order.
    pool_states: Vec<PoolState>,
}

#[derive(Clone, Debug)]
struct OriginEntry {
    pool: usize,
    enabled: bool,
    /// `None` for an origin whose pool has no monitor: it counts as healthy.
    thresholds: Option<Thresholds>,
    health: OriginHealth,
}

/// Applies one input to the state and returns what must be done about it.
pub fn decide(state: &mut State, input: Input, now: Timestamp) -> Vec<Action> {
    match input {
        Input::Observation(observation) => state.observe(&observation),
        Input::Reload(topology) => state.reload(topology, now),
    }
}

// === impl State ===

impl State {
    pub fn new(topology: Arc<Topology>) -> Self {
        let origins = fresh_origins(&topology);
        let mut state = Self {
            topology,
            origins,
            pool_states: Vec::new(),
        };
        state.pool_states = (0..state.topology.pools.len())
            .map(|pool| state.compute_pool_state(pool))
            .collect();
        state
    }

    pub fn topology(&self) -> &Arc<Topology> {
        &self.topology
    }

    pub fn origin(&self, name: &str) -> Option<&OriginHealth> {
        self.origins.get(name).map(|entry| &entry.health)
    }

    pub fn pool_state(&self, name: &str) -> Option<PoolState> {
        let index = self
            .topology
            .pools
            .iter()
            .position(|p| p.name.as_str() == name)?;
        Some(self.pool_states[index])
    }

    /// The view served by `GET /status`.
    pub fn snapshot(&self, started_at: Timestamp, now: Timestamp) -> StatusSnapshot {
        let pools = self
            .topology
            .pools
            .iter()
            .zip(&self.pool_states)
            .map(|(pool, state)| {
                let origins: Vec<OriginStatus> = pool
                    .origins
                    .iter()
                    .map(|origin| OriginStatus {
                        name: origin.name.clone(),
                        address: origin.address.to_string(),
                        weight: origin.weight,
                        enabled: origin.enabled,
                        health: self.origins[&origin.name].health.clone(),
                    })
                    .collect();
                PoolStatus {
                    name: pool.name.clone(),
                    state: *state,
                    monitor: pool.monitor.clone(),
                    minimum_origins: pool.minimum_origins,
                    healthy_origins: origins
                        .iter()
                        .filter(|o| o.enabled && o.health.health == Health::Healthy)
                        .count(),
                    origins,
                }
            })
            .collect();
        StatusSnapshot {
            started_at,
            at: now,
            all_checked: self.all_checked(),
            pools,
        }
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
        let pool = entry.pool;
        let mut actions = vec![Action::Record(origin_event(
            &observation.origin,
            &transition,
            observation.at,
        ))];
        actions.extend(self.refresh_pool(pool, observation.at));
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
        let old_states: HashMap<_, _> = self
            .topology
            .pools
            .iter()
            .map(|pool| pool.name.clone())
            .zip(self.pool_states.iter().copied())
            .collect();

        self.topology = topology;
        self.origins = origins;
        self.pool_states = (0..self.topology.pools.len())
            .map(|pool| self.compute_pool_state(pool))
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
        for (pool, state) in self.topology.pools.iter().zip(&self.pool_states) {
            let old = old_states
                .get(&pool.name)
                .copied()
                .unwrap_or(PoolState::Unknown);
            if old != *state {
                actions.push(Action::Record(pool_event(
                    pool.name.as_str(),
                    old,
                    *state,
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
        let old = std::mem::replace(&mut self.pool_states[pool], new);
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

    /// Pool states in the topology's pool order.
    pub fn pool_states(&self) -> &[PoolState] {
        &self.pool_states
    }

    /// The index (in the topology's pool order) of the pool an origin belongs to.
    pub fn pool_index_of(&self, origin: &str) -> Option<usize> {
        self.origins.get(origin).map(|entry| entry.pool)
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
            match self.origins[&origin.name].health.health {
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
                },
            );
        }
    }
    origins
}

fn origin_event(origin: &OriginName, transition: &Transition, at: Timestamp) -> NewEvent {
    let kind = match transition.to {
        Health::Healthy => EventKind::OriginUp,
        Health::Unhealthy | Health::Unknown => EventKind::OriginDown,
    };
    NewEvent::new(at, kind, origin.as_str(), transition.reason.clone())
        .transition(transition.from.as_str(), transition.to.as_str())
}

fn pool_event(pool: &str, old: PoolState, new: PoolState, reason: &str, at: Timestamp) -> NewEvent {
    NewEvent::new(at, EventKind::PoolStateChanged, pool, reason)
        .transition(old.as_str(), new.as_str())
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
