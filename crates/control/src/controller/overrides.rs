//! Drains and pins as stored: read at start, and followed while running, whichever instance
//! made them.

use lifeline_model::Timestamp;
use lifeline_store::{Snapshot, StateStore, StoreError};

use super::Controller;
use crate::decide::{Action, Input, OVERRIDES_PREFIX, Overrides, decide};

/// Reads the overrides stored by an earlier run. Entries that cannot be understood are logged
/// and skipped.
pub async fn load_overrides(store: &dyn StateStore) -> Result<Overrides, StoreError> {
    let entries: Vec<(String, Vec<u8>)> = store
        .list(OVERRIDES_PREFIX)
        .await?
        .into_iter()
        .map(|(key, versioned)| (key, versioned.value))
        .collect();
    let (overrides, skipped) = Overrides::from_entries(&entries);
    for key in skipped {
        tracing::warn!(
            key,
            "ignoring a stored override this version does not understand"
        );
    }
    Ok(overrides)
}

impl Controller {
    /// Takes up the overrides as stored, made through this instance or another. The instance
    /// that made a change has stored and recorded it; here it is only applied. Returns whether
    /// anything changed.
    pub(super) fn stored_overrides(&mut self, snapshot: &Snapshot) -> bool {
        if self.writing > 0 || snapshot.as_of < self.written {
            // Read before this instance's own change was stored; a newer one follows it.
            return false;
        }
        let entries: Vec<(String, Vec<u8>)> = snapshot
            .entries
            .iter()
            .map(|(key, versioned)| (key.clone(), versioned.value.clone()))
            .collect();
        let (mut stored, _) = Overrides::from_entries(&entries);
        stored.retain_valid(self.state.topology());
        let current = self.state.overrides().clone();
        let mut inputs = Vec::new();
        for (load_balancer, target) in &current.forced {
            if !stored.forced.contains_key(load_balancer) {
                inputs.push(Input::Force {
                    load_balancer: load_balancer.clone(),
                    target: None,
                });
            } else if stored.forced.get(load_balancer) != Some(target) {
                inputs.push(Input::Force {
                    load_balancer: load_balancer.clone(),
                    target: stored.forced.get(load_balancer).cloned(),
                });
            }
        }
        for (load_balancer, target) in &stored.forced {
            if !current.forced.contains_key(load_balancer) {
                inputs.push(Input::Force {
                    load_balancer: load_balancer.clone(),
                    target: Some(target.clone()),
                });
            }
        }
        for origin in current.draining.symmetric_difference(&stored.draining) {
            inputs.push(Input::Drain {
                origin: origin.clone(),
                draining: stored.draining.contains(origin),
            });
        }
        let now = Timestamp::now();
        let actions: Vec<Action> = inputs
            .into_iter()
            .flat_map(|input| decide(&mut self.state, input, now))
            .filter(|action| matches!(action, Action::PublishRouting))
            .collect();
        let changed = !actions.is_empty();
        if changed {
            tracing::info!("applied overrides stored by another instance");
        }
        self.carry_out(actions);
        changed
    }
}
