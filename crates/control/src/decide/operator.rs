//! What operators change: pins of load balancers and drains of origins.

use lifeline_model::{EventKind, ForceTarget, LoadBalancerName, NewEvent, OriginName, Timestamp};

use super::{Action, State};
use crate::decide::overrides::{Overrides, describe};

impl State {
    pub(super) fn force(
        &mut self,
        load_balancer: LoadBalancerName,
        target: Option<ForceTarget>,
        now: Timestamp,
    ) -> Vec<Action> {
        let key = Overrides::force_key(&load_balancer);
        let previous = self.overrides.forced.get(&load_balancer).cloned();
        if previous == target {
            return Vec::new();
        }
        let old = previous.as_ref().map_or("none".to_string(), describe);
        match target {
            Some(target) => {
                let new = describe(&target);
                let value = Overrides::force_value(&target);
                self.overrides.forced.insert(load_balancer.clone(), target);
                vec![
                    Action::Persist {
                        key,
                        value: Some(value),
                    },
                    Action::Record(
                        NewEvent::new(
                            now,
                            EventKind::ForceSet,
                            load_balancer.as_str(),
                            format!("pinned to {new} by an operator"),
                        )
                        .transition(old, new),
                    ),
                ]
            }
            None => {
                self.overrides.forced.remove(&load_balancer);
                vec![
                    Action::Persist { key, value: None },
                    Action::Record(
                        NewEvent::new(
                            now,
                            EventKind::ForceCleared,
                            load_balancer.as_str(),
                            "pin cleared by an operator",
                        )
                        .transition(old, "none"),
                    ),
                ]
            }
        }
    }

    pub(super) fn drain(
        &mut self,
        origin: OriginName,
        draining: bool,
        now: Timestamp,
    ) -> Vec<Action> {
        let changed = if draining {
            self.overrides.draining.insert(origin.clone())
        } else {
            self.overrides.draining.remove(&origin)
        };
        if !changed {
            return Vec::new();
        }
        let key = Overrides::drain_key(&origin);
        let (kind, value, reason) = if draining {
            (
                EventKind::OriginDrained,
                Some(b"1".to_vec()),
                "drained by an operator: no new requests",
            )
        } else {
            (
                EventKind::OriginUndrained,
                None,
                "undrained by an operator: takes requests again",
            )
        };
        vec![
            Action::Persist { key, value },
            Action::Record(NewEvent::new(now, kind, origin.as_str(), reason)),
        ]
    }
}
