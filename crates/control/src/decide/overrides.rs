//! Operators' manual overrides: load balancers pinned to a pool or origin (`lifeline force`) and
//! drained origins (`lifeline drain`). They are stored so that they survive a restart.

use std::collections::{BTreeMap, BTreeSet};

use lifeline_model::{ForceTarget, LoadBalancerName, OriginName, Topology};

const FORCE_PREFIX: &str = "overrides/force/";
const DRAIN_PREFIX: &str = "overrides/drain/";
/// Every override key starts with this.
pub const OVERRIDES_PREFIX: &str = "overrides/";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub forced: BTreeMap<LoadBalancerName, ForceTarget>,
    pub draining: BTreeSet<OriginName>,
}

impl Overrides {
    /// Rebuilds the overrides from stored keys; keys it does not understand are skipped and
    /// returned so the caller can report them.
    pub fn from_entries(entries: &[(String, Vec<u8>)]) -> (Self, Vec<String>) {
        let mut overrides = Self::default();
        let mut skipped = Vec::new();
        for (key, value) in entries {
            if let Some(name) = key.strip_prefix(FORCE_PREFIX) {
                match serde_json::from_slice::<ForceTarget>(value) {
                    Ok(target) => {
                        overrides.forced.insert(LoadBalancerName::new(name), target);
                    }
                    Err(_) => skipped.push(key.clone()),
                }
            } else if let Some(name) = key.strip_prefix(DRAIN_PREFIX) {
                overrides.draining.insert(OriginName::new(name));
            } else {
                skipped.push(key.clone());
            }
        }
        (overrides, skipped)
    }

    pub fn force_key(load_balancer: &LoadBalancerName) -> String {
        format!("{FORCE_PREFIX}{load_balancer}")
    }

    pub fn drain_key(origin: &OriginName) -> String {
        format!("{DRAIN_PREFIX}{origin}")
    }

    pub fn force_value(target: &ForceTarget) -> Vec<u8> {
        // A two-variant enum of names always serializes.
        serde_json::to_vec(target).unwrap_or_default()
    }

    /// The overrides that name things `topology` has, and the keys of those that do not.
    pub fn retain_valid(&mut self, topology: &Topology) -> Vec<String> {
        let mut dropped = Vec::new();
        self.forced.retain(|load_balancer, target| {
            let valid = check_force(topology, load_balancer, Some(target)).is_ok();
            if !valid {
                dropped.push(Self::force_key(load_balancer));
            }
            valid
        });
        self.draining.retain(|origin| {
            let valid = topology.origins().any(|(_, o)| &o.name == origin);
            if !valid {
                dropped.push(Self::drain_key(origin));
            }
            valid
        });
        dropped
    }
}

/// Whether `lifeline force` may pin `load_balancer` to `target` (`None`: clear).
pub fn check_force(
    topology: &Topology,
    load_balancer: &LoadBalancerName,
    target: Option<&ForceTarget>,
) -> Result<(), String> {
    if topology.load_balancer(load_balancer.as_str()).is_none() {
        return Err(format!("no load balancer is named `{load_balancer}`"));
    }
    match target {
        Some(ForceTarget::Pool(pool)) if topology.pool(pool.as_str()).is_none() => {
            Err(format!("no pool is named `{pool}`"))
        }
        Some(ForceTarget::Origin(origin))
            if !topology.origins().any(|(_, o)| &o.name == origin) =>
        {
            Err(format!("no origin is named `{origin}`"))
        }
        _ => Ok(()),
    }
}

/// Whether `lifeline drain` may drain `origin`.
pub fn check_drain(topology: &Topology, origin: &OriginName) -> Result<(), String> {
    if topology.origins().any(|(_, o)| &o.name == origin) {
        Ok(())
    } else {
        Err(format!("no origin is named `{origin}`"))
    }
}

/// How a force target reads in events and messages.
pub fn describe(target: &ForceTarget) -> String {
    match target {
        ForceTarget::Pool(pool) => format!("pool {pool}"),
        ForceTarget::Origin(origin) => format!("origin {origin}"),
    }
}

#[cfg(test)]
mod tests {
    use lifeline_model::PoolName;

    use super::*;

    #[test]
    fn round_trips_through_store_entries() {
        let target = ForceTarget::Pool(PoolName::new("backup"));
        let entries = vec![
            (
                Overrides::force_key(&"api".into()),
                Overrides::force_value(&target),
            ),
            (Overrides::drain_key(&"a".into()), b"1".to_vec()),
            ("overrides/force/bad".to_string(), b"not json".to_vec()),
            ("overrides/other".to_string(), Vec::new()),
        ];
        let (overrides, skipped) = Overrides::from_entries(&entries);
        assert_eq!(overrides.forced.get("api"), Some(&target));
        assert!(overrides.draining.contains("a"));
        assert_eq!(skipped, vec!["overrides/force/bad", "overrides/other"]);
    }
}
