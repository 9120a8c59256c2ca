//! The controller's side of shared health: it shares this instance's view, and either decides
//! every origin's health from all the views (the leader) or takes up the leader's decisions (a
//! follower).

use std::collections::{BTreeMap, HashMap};
use std::iter;
use std::sync::Arc;

use lifeline_model::{Health, HealthQuorum, InstanceName, OriginName, Timestamp};
use lifeline_store::{Leadership, Snapshot, StateStore};
use tokio::sync::watch;

use super::Controller;
use super::publish::{
    DECIDED_KEY, Decided, Seen, VIEWS_PREFIX, View, decode, encode, spawn_decided_writer,
    spawn_view_writer, view_key,
};
use crate::decide::{Input, Verdict, verdict};

/// Who this instance is among those sharing health, and how their views are combined.
#[derive(Clone, Debug)]
pub struct Sharing {
    pub instance: InstanceName,
    pub quorum: HealthQuorum,
}

/// What a controller sharing health keeps beside its state.
pub(super) struct Shared {
    sharing: Sharing,
    /// The other instances' views as last read, by instance name.
    others: BTreeMap<String, HashMap<OriginName, Seen>>,
    view: watch::Sender<Option<Vec<u8>>>,
    decided: watch::Sender<Option<(Leadership, Vec<u8>)>>,
    /// The leader's decisions as last read, applied again whenever this instance starts
    /// following them anew (a lost leadership, the store back, a reload).
    stored: Decided,
    /// When the newest decision whose lag was measured was made; `None` until the decisions
    /// stored before this instance started have been read (how long those took says nothing).
    measured_up_to: Option<u64>,
    /// Set while the store has not answered for a lease: nobody decides, so every origin is
    /// routed by this instance's own view.
    without_store: bool,
}

impl Shared {
    pub(super) fn start(sharing: Sharing, store: &Arc<dyn StateStore>) -> Self {
        Self {
            view: spawn_view_writer(store.clone(), view_key(&sharing.instance)),
            decided: spawn_decided_writer(store.clone()),
            sharing,
            others: BTreeMap::new(),
            stored: Decided::default(),
            measured_up_to: None,
            without_store: false,
        }
    }

    /// The prefixes a sharing controller follows: the views, then the decisions.
    pub(super) fn followed() -> [&'static str; 2] {
        [VIEWS_PREFIX, DECIDED_KEY]
    }
}

impl Controller {
    /// Every origin's address, as this instance's config gives it.
    fn addresses(&self) -> HashMap<OriginName, String> {
        self.state
            .topology()
            .origins()
            .map(|(_, origin)| (origin.name.clone(), origin.address.to_string()))
            .collect()
    }

    /// Shares this instance's view; the leader decides again with it.
    pub(super) fn share_view(&mut self) {
        let Some(shared) = &self.shared else {
            return;
        };
        let view = View {
            origins: at_addresses(&self.addresses(), self.state.own_views()),
        };
        let view = Some(encode(&view));
        shared.view.send_if_modified(|shared| {
            let changed = *shared != view;
            *shared = view;
            changed
        });
        self.decide_shared(false);
    }

    /// Takes up the other instances' views as stored; the leader decides again with them.
    /// Returns whether any decision changed.
    pub(super) fn stored_views(&mut self, snapshot: &Snapshot) -> bool {
        let Some(shared) = &mut self.shared else {
            return false;
        };
        let own = view_key(&shared.sharing.instance);
        shared.others = snapshot
            .entries
            .iter()
            .filter(|(key, _)| *key != own)
            .filter_map(|(key, stored)| {
                let view: View = decode(key, &stored.value)?;
                let instance = key.strip_prefix(VIEWS_PREFIX)?.to_string();
                let origins = view
                    .origins
                    .into_iter()
                    .map(|(origin, seen)| (OriginName::new(origin), seen))
                    .collect();
                Some((instance, origins))
            })
            .collect();
        self.decide_shared(false)
    }

    /// While leading: decides every origin's health from all the views, applies what changed
    /// and shares the decisions (all of them when `share_anyway`, as a new leader does). An
    /// origin nobody has checked yet gets no decision: each instance's own view stands. Returns
    /// whether any decision changed.
    pub(super) fn decide_shared(&mut self, share_anyway: bool) -> bool {
        let Some(shared) = self.shared.as_ref().filter(|shared| !shared.without_store) else {
            return false;
        };
        let Some(leadership) = self.role.borrow().clone().filter(|l| !l.is_lost()) else {
            return false;
        };
        let now = Timestamp::now();
        let addresses = self.addresses();
        let mut decided = Vec::new();
        for (origin, own) in self.state.own_views() {
            let address = addresses.get(origin);
            // Another instance's view counts once it checks the address this one does.
            let others = shared.others.iter().filter_map(|(instance, view)| {
                let seen = view
                    .get(origin)
                    .filter(|seen| Some(&seen.address) == address)?;
                Some((instance.as_str(), seen.health))
            });
            let views = iter::once((shared.sharing.instance.as_str(), own)).chain(others);
            let mut verdict = Some(verdict(views, shared.sharing.quorum))
                .filter(|verdict| verdict.health != Health::Unknown);
            if self.state.verdict_of(origin.as_str()) == verdict.as_ref().map(|v| v.health) {
                continue;
            }
            if let Some(verdict) = &mut verdict
                && own == Health::Unhealthy
                && let Some(error) = self
                    .state
                    .origin(origin.as_str())
                    .and_then(|h| h.last_error.as_ref())
            {
                verdict.reason = format!("{}; here: {error}", verdict.reason);
            }
            decided.push((origin.clone(), verdict));
        }
        if decided.is_empty() && !share_anyway {
            return false;
        }
        let changed = !decided.is_empty();
        self.apply_verdicts(decided, now);
        let decisions = Decided {
            at: now.as_millis(),
            fencing_token: leadership.fencing_token,
            origins: at_addresses(&addresses, self.state.verdicts()),
        };
        let shared = self.shared.as_ref().expect("checked above");
        shared
            .decided
            .send_replace(Some((leadership, encode(&decisions))));
        changed
    }

    /// Leadership won or lost: a new leader decides and shares every origin at once, a former
    /// one takes up the decisions as stored (the last of its own may have been refused).
    /// Returns whether any origin's health changed.
    pub(super) fn role_changed(&mut self) -> bool {
        if self.leading() {
            self.decide_shared(true)
        } else {
            self.apply_stored_decisions()
        }
    }

    /// The store stopped answering for a lease (`true`) or answers again.
    pub(super) fn store_lost(&mut self, lost: bool) -> bool {
        let Some(shared) = &mut self.shared else {
            return false;
        };
        shared.without_store = lost;
        if lost {
            self.route_by_own_views()
        } else {
            self.role_changed()
        }
    }

    /// Keeps the leader's decisions as stored and, on a follower, routes by them. Returns
    /// whether any origin's health changed.
    pub(super) fn stored_decisions(&mut self, snapshot: &Snapshot) -> bool {
        let Some(shared) = &mut self.shared else {
            return false;
        };
        shared.stored = snapshot
            .entries
            .iter()
            .find(|(key, _)| key == DECIDED_KEY)
            .and_then(|(key, stored)| decode(key, &stored.value))
            .unwrap_or_default();
        // Measured on decisions newer than any measured before, once caught up; the leader's
        // clock and this one are the same machine's in the benchmark, NTP's on a LAN.
        let made_at = shared.stored.at;
        let lag = match shared.measured_up_to.replace(made_at) {
            Some(before) if made_at > before => {
                Some(Timestamp::now().as_millis().saturating_sub(made_at))
            }
            Some(before) => {
                shared.measured_up_to = Some(before);
                None
            }
            None => None,
        };
        let changed = self.apply_stored_decisions();
        if let Some(lag) = lag.filter(|_| changed) {
            self.metrics
                .decision_applied(std::time::Duration::from_millis(lag));
            tracing::info!(lag_ms = lag, "applied the leader's health decisions");
        }
        changed
    }

    /// A follower with the store routes every origin by the leader's decision as last read
    /// (its own view where there is none). Returns whether any origin's health changed.
    fn apply_stored_decisions(&mut self) -> bool {
        let leading = self.leading();
        let Some(shared) = self
            .shared
            .as_ref()
            .filter(|s| !s.without_store && !leading)
        else {
            return false;
        };
        let reason = format!(
            "decided by the leader (fencing token {})",
            shared.stored.fencing_token
        );
        let addresses = self.addresses();
        let changes: Vec<(OriginName, Option<Verdict>)> = self
            .state
            .own_views()
            .map(|(origin, _)| origin)
            .filter_map(|origin| {
                // A decision on the address this instance's config has, if any.
                let health = shared
                    .stored
                    .origins
                    .get(origin.as_str())
                    .filter(|seen| Some(&seen.address) == addresses.get(origin))
                    .map(|seen| seen.health)
                    .filter(|health| *health != Health::Unknown);
                (self.state.verdict_of(origin.as_str()) != health).then(|| {
                    let verdict = health.map(|health| Verdict {
                        health,
                        reason: reason.clone(),
                    });
                    (origin.clone(), verdict)
                })
            })
            .collect();
        self.apply_verdicts(changes, Timestamp::now())
    }

    /// Withdraws the leader's decisions: every origin is routed by this instance's own view
    /// until the store answers again. Returns whether any origin's health changed.
    fn route_by_own_views(&mut self) -> bool {
        let decided: Vec<OriginName> = self
            .state
            .verdicts()
            .map(|(origin, _)| origin.clone())
            .collect();
        if decided.is_empty() {
            return false;
        }
        tracing::warn!(
            origins = decided.len(),
            "no store for a lease, so no leader: origins are routed by this instance's own checks until it is back"
        );
        let withdrawn = decided.into_iter().map(|origin| (origin, None)).collect();
        self.apply_verdicts(withdrawn, Timestamp::now())
    }

    /// Applies decisions; returns whether any origin's health changed.
    fn apply_verdicts(
        &mut self,
        decisions: Vec<(OriginName, Option<Verdict>)>,
        now: Timestamp,
    ) -> bool {
        if decisions.is_empty() {
            return false;
        }
        let origins: Vec<OriginName> = decisions.iter().map(|(origin, _)| origin.clone()).collect();
        self.about_origins(&origins, Input::Verdicts { decisions, at: now }, now)
    }
}

/// Each origin's health with the address this instance's config gives it, for the store.
fn at_addresses<'a>(
    addresses: &HashMap<OriginName, String>,
    healths: impl Iterator<Item = (&'a OriginName, Health)>,
) -> BTreeMap<String, Seen> {
    healths
        .filter_map(|(origin, health)| {
            let address = addresses.get(origin)?.clone();
            Some((origin.to_string(), Seen { health, address }))
        })
        .collect()
}
