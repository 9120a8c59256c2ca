//! Shared health in the state: every instance keeps its own view of each origin, and once the
//! leader has decided an origin's health from all the views, that decision is what the origin is
//! routed by, on every instance.

use lifeline_model::{EventKind, Health, OriginName, Timestamp};

use super::{Action, State, origin_event};
use crate::decide::hysteresis::Transition;
use crate::decide::quorum::Verdict;

impl State {
    /// From now on an origin's health is the leader's decision ([`Input::Verdict`]) once there
    /// is one, and every change of this instance's own view is an [`Action::ShareView`].
    ///
    /// [`Input::Verdict`]: super::Input::Verdict
    pub fn share_health(&mut self) {
        self.shares_health = true;
    }

    /// This instance's own view of every monitored, enabled origin, for the other instances.
    pub fn own_views(&self) -> impl Iterator<Item = (&OriginName, Health)> {
        self.origins
            .iter()
            .filter(|(_, entry)| entry.enabled && entry.thresholds.is_some())
            .map(|(name, entry)| (name, entry.health.health))
    }

    /// The leader's decision on every origin it has decided.
    pub fn verdicts(&self) -> impl Iterator<Item = (&OriginName, Health)> {
        self.origins
            .iter()
            .filter_map(|(name, entry)| Some((name, entry.verdict?)))
    }

    /// The leader's decision on one origin, if it has made one.
    pub fn verdict_of(&self, origin: &str) -> Option<Health> {
        self.origins.get(origin).and_then(|entry| entry.verdict)
    }

    pub(super) fn verdict(
        &mut self,
        origin: &OriginName,
        verdict: Option<Verdict>,
        at: Timestamp,
    ) -> Vec<Action> {
        let Some(entry) = self.origins.get_mut(origin) else {
            return Vec::new();
        };
        // An origin without a monitor is healthy whatever anyone sees.
        if entry.thresholds.is_none() || !entry.enabled {
            return Vec::new();
        }
        let from = entry.effective();
        let reason = match &verdict {
            Some(verdict) => verdict.reason.clone(),
            None => "no decision from the leader: this instance's own checks decide".to_string(),
        };
        entry.verdict = verdict.map(|verdict| verdict.health);
        let to = entry.effective();
        if from == to {
            return Vec::new();
        }
        if from == Health::Unhealthy && to == Health::Healthy {
            entry.healthy_since = Some(at);
        }
        let pool = entry.pool;
        let kind = match to {
            Health::Healthy => EventKind::OriginUp,
            Health::Unhealthy | Health::Unknown => EventKind::OriginDown,
        };
        let transition = Transition { from, to, reason };
        let mut actions = vec![origin_event(kind, origin, &transition, at)];
        actions.extend(self.refresh_pool(pool, at));
        actions
    }
}
