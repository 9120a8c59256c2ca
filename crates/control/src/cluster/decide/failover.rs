//! Failovers and switchovers: from their start (an operator's plan, a failed primary, a
//! promotion resumed after a restart) through fencing and catching up to the promotion's
//! outcome, retried or given up.

use lifeline_model::{EventKind, Timestamp};

use super::{ActionKind, ClusterAction, Out};
use crate::cluster::select::Plan;
use crate::cluster::state::{ClusterState, NodeId, Operation, SwitchStage};

/// How many times a failed promotion is retried before it is reported and given up.
const PROMOTE_ATTEMPTS: u32 = 3;

/// How long a failed unfence of a stranded fence waits before it is tried again.
const UNFENCE_AGAIN: std::time::Duration = std::time::Duration::from_secs(5);

// === impl ClusterState: failover and switchover ===

impl ClusterState {
    pub(super) fn start(&mut self, plan: Plan, now: Timestamp, out: &mut Out) {
        match plan {
            Plan::Failover { candidate } => {
                self.start_failover(candidate, now, "requested by an operator", out)
            }
            Plan::Switchover { target } => {
                let Some(old) = self.primary() else { return };
                self.operation = Some(Operation::Switchover {
                    target,
                    old,
                    started: now,
                    stage: SwitchStage::Fencing,
                });
                out.event(
                    now,
                    EventKind::SwitchoverStarted,
                    self.cluster.name.as_str(),
                    format!(
                        "{} -> {}: new writer connections wait",
                        self.name(old),
                        self.name(target)
                    ),
                );
                self.publish_route(None, out);
                // Stored with the fence (every action's grant writes the record first), so a
                // next leader knows this fence is Lifeline's if this one is lost.
                self.record.fenced = Some(self.name(old).clone());
                out.push(ClusterAction::Fence { node: old });
            }
        }
    }

    pub(super) fn start_failover(
        &mut self,
        candidate: NodeId,
        now: Timestamp,
        why: &str,
        out: &mut Out,
    ) {
        let old = self.primary();
        self.operation = Some(Operation::Failover {
            candidate,
            old,
            started: now,
            attempts: 1,
        });
        // Persisted before the promotion is ordered: a restart resumes this one, never another.
        self.record.promoting = Some(self.name(candidate).clone());
        out.push(ClusterAction::Persist(self.record.clone()));
        let from = old.map_or("none".to_string(), |p| self.name(p).to_string());
        out.event(
            now,
            EventKind::FailoverStarted,
            self.cluster.name.as_str(),
            format!(
                "{why}: promoting {} in place of {from}",
                self.name(candidate)
            ),
        );
        self.publish_route(None, out);
        out.push(ClusterAction::Promote { node: candidate });
    }

    /// A promotion ordered before a restart: finish it if the node is a primary now, order it
    /// again if not. Never another node.
    pub(super) fn resume_promotion(&mut self, now: Timestamp, out: &mut Out) {
        let Some(name) = self.record.promoting.clone() else {
            return;
        };
        let Some(node) = self.id(&name) else {
            self.record.promoting = None;
            out.push(ClusterAction::Persist(self.record.clone()));
            return;
        };
        let Some(facts) = self.fresh_facts(node, now).cloned() else {
            return;
        };
        if facts.is_replica() {
            self.operation = Some(Operation::Failover {
                candidate: node,
                old: self.primary(),
                started: now,
                attempts: 1,
            });
            self.publish_route(None, out);
            out.push(ClusterAction::Promote { node });
        } else {
            self.promoted(node, facts.timeline, now, out);
        }
    }

    /// Switchover, the old primary fenced at `position`: the target catches up to it.
    pub(super) fn fenced(&mut self, node: NodeId, position: u64, out: &mut Out) {
        if let Some(Operation::Switchover {
            target, old, stage, ..
        }) = &mut self.operation
            && *old == node
        {
            *stage = SwitchStage::CatchingUp;
            out.push(ClusterAction::AwaitCatchUp {
                node: *target,
                position,
            });
        }
    }

    /// Switchover, the target has everything the old primary acknowledged: promote it.
    pub(super) fn caught_up(&mut self, node: NodeId, out: &mut Out) {
        if let Some(Operation::Switchover { target, stage, .. }) = &mut self.operation
            && *target == node
        {
            *stage = SwitchStage::Promoting { attempts: 1 };
            self.record.promoting = Some(self.name(node).clone());
            out.push(ClusterAction::Persist(self.record.clone()));
            out.push(ClusterAction::Promote { node });
        }
    }

    pub(super) fn promoted(
        &mut self,
        node: NodeId,
        timeline: Option<u32>,
        now: Timestamp,
        out: &mut Out,
    ) {
        let (old, started, switchover) = match self.operation.take() {
            Some(Operation::Failover { old, started, .. }) => (old, started, false),
            Some(Operation::Switchover { old, started, .. }) => (Some(old), started, true),
            // A promotion resumed after a restart.
            None => (self.primary().filter(|p| *p != node), now, false),
        };
        self.record.primary = Some(self.name(node).clone());
        // The epoch comes from the state file: a damaged one must not make it overflow.
        self.record.epoch = self.record.epoch.saturating_add(1);
        self.record.promoting = None;
        // A fence of the old primary no longer matters: it is retired.
        self.record.fenced = None;
        if let Some(old) = old.filter(|old| *old != node) {
            let name = self.name(old).clone();
            if !self.record.retired.contains(&name) {
                self.record.retired.push(name);
            }
            out.event(
                now,
                EventKind::NeedsRejoin,
                self.subject(old),
                "old primary: never takes writes again until it streams from the new primary",
            );
        }
        self.record
            .retired
            .retain(|n| n != &self.cluster.nodes[node].name);
        // What async mode may have lost: what the old primary had and the new one never got.
        let received = self.nodes[node].facts.as_ref().and_then(|f| f.position);
        let behind = match (&self.record.sync, self.last_primary_position, received) {
            (None, Some(primary), Some(received)) if !switchover => {
                Some(primary.saturating_sub(received))
            }
            _ => None,
        };
        self.record.sync = None;
        self.last_primary_position = None;
        self.refused_reported = false;
        self.unreachable_reported = false;
        out.push(ClusterAction::Persist(self.record.clone()));
        let took = now.since(started).as_secs_f64();
        let (kind, what) = match (switchover, behind) {
            (true, _) => (
                EventKind::SwitchoverCompleted,
                format!("write pause {took:.3}s"),
            ),
            (false, Some(bytes)) => (
                EventKind::FailoverCompleted,
                format!(
                    "took {took:.3}s; async mode: it was {bytes} bytes behind the old primary's last known position, and commits in them are lost, as may be any acknowledged after Lifeline last read that position"
                ),
            ),
            (false, None) => (EventKind::FailoverCompleted, format!("took {took:.3}s")),
        };
        let on_timeline = timeline.map_or(String::new(), |t| format!(" on timeline {t}"));
        out.event(
            now,
            kind,
            self.cluster.name.as_str(),
            format!(
                "{} is primary{on_timeline} (epoch {}); {what}",
                self.name(node),
                self.record.epoch
            ),
        );
        let fenced = self.nodes[node].facts.as_ref().is_some_and(|f| f.fenced);
        if fenced {
            self.unfencing.push(node);
            out.push(ClusterAction::Unfence { node });
        }
        // Its facts still say "replica"; until the next check says otherwise, trust the
        // promotion.
        if let Some(facts) = &mut self.nodes[node].facts {
            facts.role = lifeline_model::Role::Primary;
            facts.fenced = false;
            facts.timeline = timeline.or(facts.timeline);
        }
    }

    /// An action failed: report it, forget it was in flight, and retry a promotion or give the
    /// writes back to the old primary of a switchover.
    pub(super) fn failed(
        &mut self,
        node: NodeId,
        action: ActionKind,
        error: String,
        now: Timestamp,
        out: &mut Out,
    ) {
        out.event(
            now,
            EventKind::ActionFailed,
            self.subject(node),
            format!("{action} failed: {error}"),
        );
        self.following.retain(|n| *n != node);
        self.unfencing.retain(|n| *n != node);
        match action {
            ActionKind::SetSync => self.sync_pending = false,
            ActionKind::Rejoin => self.rejoin_finished(node, now),
            ActionKind::Adopt => self.adoption_failed(node, now),
            _ => {}
        }
        match self.operation.clone() {
            Some(Operation::Failover {
                candidate,
                old,
                started,
                attempts,
            }) if action == ActionKind::Promote && candidate == node => {
                if attempts < PROMOTE_ATTEMPTS {
                    self.operation = Some(Operation::Failover {
                        candidate,
                        old,
                        started,
                        attempts: attempts + 1,
                    });
                    out.push(ClusterAction::Promote { node });
                } else {
                    self.operation = None;
                    self.record.promoting = None;
                    out.push(ClusterAction::Persist(self.record.clone()));
                }
            }
            Some(Operation::Switchover {
                target,
                old,
                started,
                stage: SwitchStage::Promoting { attempts },
            }) if action == ActionKind::Promote => {
                if attempts < PROMOTE_ATTEMPTS {
                    self.operation = Some(Operation::Switchover {
                        target,
                        old,
                        started,
                        stage: SwitchStage::Promoting {
                            attempts: attempts + 1,
                        },
                    });
                    out.push(ClusterAction::Promote { node: target });
                } else {
                    self.abort_switchover(old, now, out);
                }
            }
            Some(Operation::Switchover { old, .. })
                if matches!(action, ActionKind::Fence | ActionKind::CatchUp) =>
            {
                self.abort_switchover(old, now, out)
            }
            _ => {}
        }
    }

    /// Gives the writes back to the old primary.
    fn abort_switchover(&mut self, old: NodeId, now: Timestamp, out: &mut Out) {
        self.operation = None;
        self.record.promoting = None;
        out.push(ClusterAction::Persist(self.record.clone()));
        out.event(
            now,
            EventKind::ActionFailed,
            self.cluster.name.as_str(),
            format!("switchover aborted: {} stays primary", self.name(old)),
        );
        self.unfencing.push(old);
        out.push(ClusterAction::Unfence { node: old });
    }

    /// The primary is fenced by Lifeline and nothing is in flight: the leader that fenced it
    /// for a switchover was lost before it promoted the target (and before it stored whom it
    /// was promoting), so nobody would ever give the writes back. They come back here, tried
    /// again at most every [`UNFENCE_AGAIN`] while the unfence fails.
    pub(super) fn unfence_stranded(&mut self, primary: NodeId, now: Timestamp, out: &mut Out) {
        let fenced = self.nodes[primary]
            .facts
            .as_ref()
            .is_some_and(|facts| facts.fenced && facts.is_primary());
        let ours = self.record.fenced.as_ref() == Some(self.name(primary));
        let waiting = self.unfence_again_at.is_some_and(|at| now < at);
        if !fenced
            || !ours
            || waiting
            || self.record.promoting.is_some()
            || self.unfencing.contains(&primary)
        {
            return;
        }
        out.event(
            now,
            EventKind::PrimaryUnfenced,
            self.subject(primary),
            "fenced for a switchover that is no longer in flight (the leader that began it was lost): it takes writes again",
        );
        self.unfence_again_at = Some(now.plus(UNFENCE_AGAIN));
        self.unfencing.push(primary);
        out.push(ClusterAction::Unfence { node: primary });
    }
}
