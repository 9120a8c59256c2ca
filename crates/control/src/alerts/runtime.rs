//! The alerts task: on the leader, a few times a second, works out which alerts fire, and puts
//! each change (fired, resolved, or a firing alert's annotations changed) into the outbox of
//! every receiver that takes it, grouped: the changes within a receiver's `group_wait` of the
//! first go out as one notification.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{
    EventKind, LoadBalancerName, ReceiverKind, ReceiverName, StatusSnapshot, Timestamp, Topology,
};
use lifeline_store::{Role, StateStore, StoreError, leading_token};
use tokio::sync::Notify;

use super::alert::{Alert, Firing, Notice, Notification};
use super::outbox;
use super::rules::firing;
use crate::cluster::ClusterStatus;
use crate::escalation::{Escalation, World};

const EVALUATE_EVERY: Duration = Duration::from_millis(250);
/// How often the alerts that still fire are sent to an Alertmanager again (Prometheus's
/// `resend_delay`), and, four times that, when they end unless sent again.
pub const RESEND_EVERY: Duration = Duration::from_secs(60);

/// Where the alerts task reads from and writes to.
pub struct AlertInputs {
    pub topology: Arc<ArcSwap<Topology>>,
    pub status: Arc<ArcSwap<StatusSnapshot>>,
    pub clusters: Box<dyn Fn() -> Vec<Arc<ClusterStatus>> + Send + Sync>,
    pub escalation: Escalation,
    pub store: Arc<dyn StateStore>,
    pub role: Role,
    /// Woken when a notification is put in the outbox, so that delivery starts at once.
    pub enqueued: Arc<Notify>,
}

/// What the leader remembers between evaluations.
#[derive(Default)]
struct Memory {
    firing: BTreeMap<String, Firing>,
    version: Option<u64>,
    /// The last event read, for `rto_exceeded`.
    seq: u64,
    slow_failovers: BTreeSet<LoadBalancerName>,
    /// Changes waiting for their receiver's `group_wait`, with when the first came.
    pending: HashMap<ReceiverName, (Timestamp, Vec<Notice>)>,
    resent: HashMap<ReceiverName, Timestamp>,
}

/// Runs until `shutdown` resolves.
pub async fn run(inputs: AlertInputs, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(EVALUATE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut memory: Option<Memory> = None;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        if leading_token(&inputs.role).is_none() {
            // A follower raises nothing; the leader it becomes starts from the store.
            memory = None;
            continue;
        }
        let result = match memory.as_mut() {
            Some(memory) => inputs.evaluate(memory).await,
            None => match Memory::load(inputs.store.as_ref()).await {
                Ok(loaded) => {
                    memory = Some(loaded);
                    Ok(())
                }
                Err(error) => Err(error),
            },
        };
        if let Err(error) = result {
            tracing::warn!(%error, "alerts: the store did not answer; trying again");
        }
    }
}

impl Memory {
    async fn load(store: &dyn StateStore) -> Result<Self, StoreError> {
        let (firing, version) = outbox::load_firing(store).await?;
        let seq = store.latest_events(1).await?.last().map_or(0, |e| e.seq);
        Ok(Self {
            firing,
            version,
            seq,
            ..Self::default()
        })
    }
}

impl AlertInputs {
    async fn evaluate(&self, memory: &mut Memory) -> Result<(), StoreError> {
        let topology = self.topology.load_full();
        for event in self.store.events_since(memory.seq, 1000).await? {
            memory.seq = event.seq;
            if event.event.kind == EventKind::RtoExceeded {
                memory
                    .slow_failovers
                    .insert(LoadBalancerName::new(event.event.subject.as_str()));
            }
        }
        let status = self.status.load_full();
        let clusters = (self.clusters)();
        let world = World {
            topology: &topology,
            status: &status,
            clusters: &clusters,
        };
        let now_firing = firing(
            &world,
            &self.escalation.scorecards(),
            &memory.slow_failovers,
        );
        let now = Timestamp::now();
        let changes = changes(&mut memory.firing, now_firing, now);
        memory.slow_failovers.retain(|lb| {
            memory.firing.values().any(|f| {
                f.alert.labels.get("alertname").map(String::as_str) == Some("failover_triggered")
                    && f.alert.labels.get("load_balancer").map(String::as_str) == Some(lb.as_str())
            })
        });
        if !changes.is_empty() {
            memory.version =
                outbox::store_firing(self.store.as_ref(), &memory.firing, memory.version).await?;
        }
        let mut enqueued = false;
        for receiver in &topology.receivers {
            let taken: Vec<Notice> = changes
                .iter()
                .filter(|n| n.alert.name().is_some_and(|a| receiver.takes(a)))
                .cloned()
                .collect();
            if !taken.is_empty() {
                let (_, waiting) = memory
                    .pending
                    .entry(receiver.name.clone())
                    .or_insert_with(|| (now, Vec::new()));
                for notice in taken {
                    // The latest word on an alert replaces an earlier one in the same group.
                    waiting.retain(|n| n.alert.fingerprint() != notice.alert.fingerprint());
                    waiting.push(notice);
                }
            }
            let due = memory
                .pending
                .get(&receiver.name)
                .is_some_and(|(first, _)| now.since(*first) >= receiver.group_wait);
            let mut notices = if due {
                memory
                    .pending
                    .remove(&receiver.name)
                    .map(|(_, n)| n)
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            if matches!(receiver.kind, ReceiverKind::Alertmanager { .. }) {
                let last = memory.resent.entry(receiver.name.clone()).or_insert(now);
                if now.since(*last) >= RESEND_EVERY {
                    *last = now;
                    for firing in memory
                        .firing
                        .values()
                        .filter(|f| f.alert.name().is_some_and(|a| receiver.takes(a)))
                    {
                        if !notices
                            .iter()
                            .any(|n| n.alert.fingerprint() == firing.alert.fingerprint())
                        {
                            notices.push(Notice {
                                alert: firing.alert.clone(),
                                starts_at: firing.starts_at,
                                ends_at: None,
                            });
                        }
                    }
                }
            }
            if !notices.is_empty() {
                let notification = Notification {
                    receiver: receiver.name.clone(),
                    notices,
                    created_at: now,
                };
                outbox::enqueue(self.store.as_ref(), &notification).await?;
                enqueued = true;
            }
        }
        memory
            .pending
            .retain(|name, _| topology.receivers.iter().any(|r| r.name == *name));
        if enqueued {
            self.enqueued.notify_one();
        }
        Ok(())
    }
}

/// Brings `firing` up to `now_firing` and returns what changed: alerts that fire anew, that
/// no longer fire (resolved now), and firing alerts whose annotations changed (a level).
fn changes(
    firing: &mut BTreeMap<String, Firing>,
    now_firing: Vec<Alert>,
    now: Timestamp,
) -> Vec<Notice> {
    let mut notices = Vec::new();
    let mut seen = BTreeSet::new();
    for alert in now_firing {
        let fingerprint = alert.fingerprint();
        seen.insert(fingerprint.clone());
        match firing.get_mut(&fingerprint) {
            Some(known) if known.alert == alert => {}
            Some(known) => {
                known.alert = alert.clone();
                notices.push(Notice {
                    alert,
                    starts_at: known.starts_at,
                    ends_at: None,
                });
            }
            None => {
                firing.insert(
                    fingerprint,
                    Firing {
                        alert: alert.clone(),
                        starts_at: now,
                    },
                );
                notices.push(Notice {
                    alert,
                    starts_at: now,
                    ends_at: None,
                });
            }
        }
    }
    firing.retain(|fingerprint, gone| {
        let kept = seen.contains(fingerprint);
        if !kept {
            notices.push(Notice {
                alert: gone.alert.clone(),
                starts_at: gone.starts_at,
                ends_at: Some(now),
            });
        }
        kept
    });
    notices
}

#[cfg(test)]
mod tests {
    use lifeline_model::AlertName;

    use super::*;

    #[test]
    fn changes_fire_resolve_and_update() {
        let mut firing = BTreeMap::new();
        let down = Alert::new(AlertName::PoolDown, "critical", &[("pool", "a")]);
        let level = |n: u8| {
            Alert::new(AlertName::LevelChanged, "critical", &[("scorecard", "s")])
                .annotate("level", n.to_string())
        };
        let t = Timestamp::from_millis;
        let first = changes(&mut firing, vec![down.clone(), level(1)], t(1));
        assert_eq!(first.len(), 2);
        assert!(
            first
                .iter()
                .all(|n| n.ends_at.is_none() && n.starts_at == t(1))
        );
        assert!(
            changes(&mut firing, vec![down.clone(), level(1)], t(2)).is_empty(),
            "nothing new"
        );
        let raised = changes(&mut firing, vec![down.clone(), level(2)], t(3));
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].alert.annotations["level"], "2");
        assert_eq!(
            raised[0].starts_at,
            t(1),
            "the same alert, still firing since it began"
        );
        let resolved = changes(&mut firing, vec![level(2)], t(4));
        assert_eq!(
            resolved,
            vec![Notice {
                alert: down,
                starts_at: t(1),
                ends_at: Some(t(4))
            }]
        );
        assert_eq!(firing.len(), 1);
    }
}
