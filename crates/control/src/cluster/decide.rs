//! `decide(state, input, now) -> actions` for one cluster.

use std::time::Duration;

use lifeline_model::{CheckFailure, EventKind, NewEvent, NodeFacts, NodeName, Timestamp};

use super::adopt::ADOPT;
use super::select::{Plan, plan_request};
use super::state::{
    ClusterHealth, ClusterRecord, ClusterState, Operation, RejoinRun, SwitchStage, SyncSet,
};
use super::sync::{members_of, sync_value};

/// How many times a failed promotion is retried before it is reported and given up.
const PROMOTE_ATTEMPTS: u32 = 3;

/// An old primary that failed its rejoin, or still does not stream this long after it, gets
/// the rejoin command again.
const REJOIN_RETRY: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
pub enum ClusterInput {
    /// One check of one node.
    Checked {
        node: usize,
        at: Timestamp,
        latency: Duration,
        /// Boxed: facts are large next to the other inputs.
        outcome: Result<Box<NodeFacts>, CheckFailure>,
    },
    /// An operator's failover or switchover, already planned with [`plan_request`].
    Start(Plan),
    /// An action reports back.
    Done(ActionResult),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionResult {
    Promoted {
        node: usize,
        timeline: u32,
    },
    Fenced {
        node: usize,
        lsn: u64,
    },
    CaughtUp {
        node: usize,
    },
    Followed {
        node: usize,
    },
    Unfenced {
        node: usize,
    },
    SyncSet {
        members: Vec<NodeName>,
        lsn: u64,
    },
    Rejoined {
        node: usize,
    },
    Adopted {
        node: usize,
    },
    /// Any action failed; `action` names it for the event.
    Failed {
        node: usize,
        action: &'static str,
        error: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClusterAction {
    Record(NewEvent),
    Persist(ClusterRecord),
    /// Publish the endpoints: the writer's node (`None`: hold new connections, close existing
    /// ones) and the readers'.
    Route {
        writer: Option<usize>,
        readers: Vec<usize>,
    },
    Promote {
        node: usize,
    },
    /// Stop the primary's writes; report its final WAL position.
    Fence {
        node: usize,
    },
    /// Wait until `node` has received WAL up to `lsn`.
    AwaitCatchUp {
        node: usize,
        lsn: u64,
    },
    Follow {
        node: usize,
        primary: usize,
    },
    Unfence {
        node: usize,
    },
    SetSyncNames {
        primary: usize,
        members: Vec<NodeName>,
    },
    Rejoin {
        node: usize,
        primary: usize,
    },
    /// Make the standby stream under its node name as `application_name`, keeping the rest of
    /// how it connects.
    Adopt {
        node: usize,
    },
}

pub fn decide(state: &mut ClusterState, input: ClusterInput, now: Timestamp) -> Vec<ClusterAction> {
    let mut out = Out::default();
    match input {
        ClusterInput::Checked {
            node,
            at,
            latency,
            outcome,
        } => state.checked(node, at, latency, outcome, &mut out),
        ClusterInput::Start(plan) => state.start(plan, now, &mut out),
        ClusterInput::Done(result) => state.done(result, now, &mut out),
    }
    state.reconcile(now, &mut out);
    out.0
}

#[derive(Default)]
pub(super) struct Out(Vec<ClusterAction>);

impl Out {
    pub(super) fn push(&mut self, action: ClusterAction) {
        self.0.push(action);
    }

    pub(super) fn event(
        &mut self,
        at: Timestamp,
        kind: EventKind,
        subject: impl Into<String>,
        reason: impl Into<String>,
    ) {
        self.0.push(ClusterAction::Record(NewEvent::new(
            at, kind, subject, reason,
        )));
    }
}

// === impl ClusterState: inputs ===

impl ClusterState {
    pub(super) fn subject(&self, node: usize) -> String {
        format!("{}/{}", self.cluster.name, self.name(node))
    }

    fn checked(
        &mut self,
        node: usize,
        at: Timestamp,
        latency: Duration,
        outcome: Result<Box<NodeFacts>, CheckFailure>,
        out: &mut Out,
    ) {
        let (threshold, rise) = (self.cluster.failure_threshold, self.cluster.rise);
        let subject = self.subject(node);
        let state = &mut self.nodes[node];
        state.last_check = Some(at);
        state.response_time = Some(latency);
        match outcome {
            Ok(facts) => {
                state.consecutive_failures = 0;
                state.consecutive_successes = state.consecutive_successes.saturating_add(1);
                state.down_since = None;
                if let Some(receiver) = facts.receiver.as_ref().filter(|r| r.status == "streaming")
                {
                    state.upstream_port = receiver.sender_port.or(state.upstream_port);
                }
                state.facts = Some(*facts);
                state.facts_at = Some(at);
                // A node seen for the first time counts at once; one that was down needs `rise`
                // good checks in a row, so that a flapping node stays out.
                let was_down = !state.healthy && state.last_error.is_some();
                if !state.healthy && (!was_down || state.consecutive_successes >= rise) {
                    state.healthy = true;
                    if was_down {
                        let reason = format!(
                            "{} consecutive checks succeed again",
                            state.consecutive_successes
                        );
                        out.event(at, EventKind::NodeUp, subject, reason);
                    }
                }
            }
            Err(failure) => {
                state.consecutive_failures = state.consecutive_failures.saturating_add(1);
                state.consecutive_successes = 0;
                state.down_since.get_or_insert(at);
                state.last_error = Some(failure.to_string());
                let was_healthy = state.healthy;
                // A node never seen healthy is down at once; a healthy one after the threshold.
                let falls = state.consecutive_failures >= threshold || state.facts.is_none();
                if falls {
                    state.healthy = false;
                }
                let first_ever = state.facts.is_none() && state.consecutive_failures == 1;
                if falls && (was_healthy || first_ever) {
                    let reason = format!(
                        "{} consecutive failed checks, last: {failure}",
                        state.consecutive_failures
                    );
                    out.event(at, EventKind::NodeDown, subject, reason);
                }
            }
        }
    }

    fn start(&mut self, plan: Plan, now: Timestamp, out: &mut Out) {
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
                out.push(ClusterAction::Fence { node: old });
            }
        }
    }

    fn start_failover(&mut self, candidate: usize, now: Timestamp, why: &str, out: &mut Out) {
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

    fn done(&mut self, result: ActionResult, now: Timestamp, out: &mut Out) {
        let cluster = self.cluster.name.to_string();
        match result {
            ActionResult::Promoted { node, timeline } => self.promoted(node, timeline, now, out),
            ActionResult::Fenced { node, lsn } => {
                if let Some(Operation::Switchover {
                    target, old, stage, ..
                }) = &mut self.operation
                    && *old == node
                {
                    *stage = SwitchStage::CatchingUp;
                    out.push(ClusterAction::AwaitCatchUp { node: *target, lsn });
                }
            }
            ActionResult::CaughtUp { node } => {
                if let Some(Operation::Switchover { target, stage, .. }) = &mut self.operation
                    && *target == node
                {
                    *stage = SwitchStage::Promoting { attempts: 1 };
                    self.record.promoting = Some(self.name(node).clone());
                    out.push(ClusterAction::Persist(self.record.clone()));
                    out.push(ClusterAction::Promote { node });
                }
            }
            ActionResult::Followed { node } => {
                self.following.retain(|n| *n != node);
                self.nodes[node].upstream_port =
                    self.primary().map(|p| self.cluster.nodes[p].dsn.port);
                let primary = self
                    .primary()
                    .map_or("?".to_string(), |p| self.name(p).to_string());
                out.event(
                    now,
                    EventKind::StandbyRepointed,
                    self.subject(node),
                    format!("now follows {primary}"),
                );
            }
            ActionResult::Unfenced { node } => self.unfencing.retain(|n| *n != node),
            ActionResult::SyncSet { members, lsn } => {
                self.sync_pending = false;
                let value = sync_value(&members);
                // The action verified the primary uses it; don't wait for the next check to know.
                if let Some(facts) = self.primary().and_then(|p| self.nodes[p].facts.as_mut()) {
                    facts.synchronous_standby_names.clone_from(&value);
                }
                self.record.sync = Some(SyncSet {
                    members,
                    since_lsn: lsn,
                });
                out.push(ClusterAction::Persist(self.record.clone()));
                let reason = if value.is_empty() {
                    "no healthy standby the primary can identify: commits are acknowledged \
                     without one (degraded to async)"
                        .to_string()
                } else {
                    format!("synchronous_standby_names = '{value}'")
                };
                out.event(now, EventKind::SyncStandbysChanged, cluster, reason);
            }
            ActionResult::Rejoined { node } => {
                self.rejoin_finished(node, now);
                out.event(
                    now,
                    EventKind::Rejoined,
                    self.subject(node),
                    "rejoin command finished; waiting for it to stream",
                );
            }
            ActionResult::Adopted { node } => self.adopted(node, now, out),
            ActionResult::Failed {
                node,
                action,
                error,
            } => self.failed(node, action, error, now, out),
        }
    }

    fn promoted(&mut self, node: usize, timeline: u32, now: Timestamp, out: &mut Out) {
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
        // What async mode may have lost: WAL the old primary had and the new one never got.
        let received = self.nodes[node].facts.as_ref().and_then(|f| f.wal_lsn);
        let behind = match (&self.record.sync, self.last_primary_lsn, received) {
            (None, Some(primary_lsn), Some(received)) if !switchover => {
                Some(primary_lsn.saturating_sub(received))
            }
            _ => None,
        };
        self.record.sync = None;
        self.last_primary_lsn = None;
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
                    "took {took:.3}s; async mode: it was {bytes} bytes of WAL behind the old primary's last known position, commits in them are lost"
                ),
            ),
            (false, None) => (EventKind::FailoverCompleted, format!("took {took:.3}s")),
        };
        out.event(
            now,
            kind,
            self.cluster.name.as_str(),
            format!(
                "{} is primary on timeline {timeline} (epoch {}); {what}",
                self.name(node),
                self.record.epoch
            ),
        );
        let read_only = self.nodes[node].facts.as_ref().is_some_and(|f| f.read_only);
        if read_only {
            self.unfencing.push(node);
            out.push(ClusterAction::Unfence { node });
        }
        // Its facts still say "standby"; until the next check says otherwise, trust the promotion.
        if let Some(facts) = &mut self.nodes[node].facts {
            facts.in_recovery = false;
            facts.read_only = false;
            facts.timeline = Some(timeline);
        }
    }

    fn failed(
        &mut self,
        node: usize,
        action: &'static str,
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
        if action == "set synchronous_standby_names" {
            self.sync_pending = false;
        }
        if action == "rejoin" {
            self.rejoin_finished(node, now);
        }
        if action == ADOPT {
            self.adoption_failed(node, now);
        }
        match self.operation.clone() {
            Some(Operation::Failover {
                candidate,
                old,
                started,
                attempts,
            }) if action == "promote" && candidate == node => {
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
            }) if action == "promote" => {
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
            Some(Operation::Switchover { old, .. }) if matches!(action, "fence" | "catch up") => {
                self.abort_switchover(old, now, out)
            }
            _ => {}
        }
    }

    /// Gives the writes back to the old primary.
    fn abort_switchover(&mut self, old: usize, now: Timestamp, out: &mut Out) {
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
}

// === impl ClusterState: reconcile ===

impl ClusterState {
    /// After every input: settle who is primary, fail over if needed, keep standbys, sync
    /// standbys and endpoints in line, and report the cluster's state.
    fn reconcile(&mut self, now: Timestamp, out: &mut Out) {
        // Until every node has answered (or failed) once, a second writable primary could be
        // hiding: nothing is decided and the writer holds.
        if !self.nodes.iter().all(|n| n.last_check.is_some()) {
            return;
        }
        if self.operation.is_none() {
            self.resume_promotion(now, out);
        }
        if self.operation.is_none() {
            self.settle_primary(now, out);
            if let Some(lsn) = self
                .primary()
                .and_then(|p| self.fresh_facts(p, now))
                .filter(|f| !f.in_recovery)
                .and_then(|f| f.wal_lsn)
            {
                self.last_primary_lsn = Some(lsn);
            }
            self.watch_primary(now, out);
        }
        if self.operation.is_none()
            && let Some(primary) = self.primary().filter(|p| self.nodes[*p].healthy)
        {
            self.keep_standbys(primary, now, out);
            self.adopt_standbys(primary, now, out);
            self.keep_sync(primary, now, out);
        }
        if self.operation.is_none() {
            let writer = self.primary().filter(|p| {
                self.nodes[*p].healthy
                    && !self.unfencing.contains(p)
                    && !self.nodes[*p].facts.as_ref().is_some_and(|f| f.in_recovery)
            });
            self.publish_route(writer, out);
        }
        self.report_health(now, out);
    }

    /// A promotion ordered before a restart: finish it if the node is out of recovery, order it
    /// again if not. Never another node.
    fn resume_promotion(&mut self, now: Timestamp, out: &mut Out) {
        let Some(name) = self.record.promoting.clone() else {
            return;
        };
        let Some(node) = self.index(&name) else {
            self.record.promoting = None;
            out.push(ClusterAction::Persist(self.record.clone()));
            return;
        };
        let Some(facts) = self.fresh_facts(node, now).cloned() else {
            return;
        };
        if facts.in_recovery {
            self.operation = Some(Operation::Failover {
                candidate: node,
                old: self.primary(),
                started: now,
                attempts: 1,
            });
            self.publish_route(None, out);
            out.push(ClusterAction::Promote { node });
        } else {
            self.promoted(node, facts.timeline.unwrap_or(0), now, out);
        }
    }

    /// Which node is primary, from the nodes themselves: the known primary while it is the one
    /// writable node; a lone writable node; the highest timeline among several (split brain).
    fn settle_primary(&mut self, now: Timestamp, out: &mut Out) {
        let writable: Vec<usize> = (0..self.nodes.len())
            .filter(|n| {
                self.fresh_facts(*n, now).is_some_and(|f| !f.in_recovery) && !self.is_retired(*n)
            })
            .collect();
        let known = self.primary();
        match writable.as_slice() {
            [] => {}
            [only] if Some(*only) == known => self.split_reported = false,
            [only] => {
                if known.is_none_or(|p| {
                    !self.nodes[p].healthy
                        || self.fresh_facts(p, now).is_some_and(|f| f.in_recovery)
                }) {
                    self.record.primary = Some(self.name(*only).clone());
                    out.push(ClusterAction::Persist(self.record.clone()));
                }
            }
            several => {
                let timeline = |n: &usize| {
                    self.fresh_facts(*n, now)
                        .and_then(|f| f.timeline)
                        .unwrap_or(0)
                };
                let top = several.iter().map(timeline).max().unwrap_or(0);
                let leaders: Vec<usize> = several
                    .iter()
                    .copied()
                    .filter(|n| timeline(n) == top)
                    .collect();
                let names: Vec<String> =
                    several.iter().map(|n| self.name(*n).to_string()).collect();
                if let [leader] = leaders.as_slice() {
                    for other in several.iter().filter(|n| *n != leader) {
                        let name = self.name(*other).clone();
                        self.record.retired.push(name);
                    }
                    self.record.primary = Some(self.name(*leader).clone());
                    out.push(ClusterAction::Persist(self.record.clone()));
                    out.event(
                        now,
                        EventKind::SplitBrain,
                        self.cluster.name.as_str(),
                        format!("writable primaries {}: {} has the highest timeline ({top}) and keeps the writes; the others need a rejoin", names.join(", "), self.name(*leader)),
                    );
                } else {
                    self.record.primary = None;
                    if !self.split_reported {
                        self.split_reported = true;
                        out.event(
                            now,
                            EventKind::SplitBrain,
                            self.cluster.name.as_str(),
                            format!("writable primaries {} on the same timeline: writes go to neither until an operator resolves it", names.join(", ")),
                        );
                    }
                }
            }
        }
    }

    /// The primary failed `failure_threshold` checks: fail over, unless its standbys still hear
    /// from it (only Lifeline's link is broken) or no standby may be promoted.
    fn watch_primary(&mut self, now: Timestamp, out: &mut Out) {
        let Some(primary) = self.primary() else {
            return;
        };
        let state = &self.nodes[primary];
        if state.consecutive_failures < self.cluster.failure_threshold {
            self.refused_reported = false;
            self.unreachable_reported = false;
            return;
        }
        let down_since = state.down_since.unwrap_or(now);
        // Standby facts must be newer than the primary's trouble to say anything about it.
        let standbys: Vec<usize> = (0..self.nodes.len())
            .filter(|n| *n != primary && self.fresh_facts(*n, now).is_some_and(|f| f.in_recovery))
            .collect();
        if standbys
            .iter()
            .any(|n| self.nodes[*n].facts_at.is_some_and(|at| at < down_since))
        {
            return;
        }
        if let Some(witness) = standbys
            .iter()
            .find(|n| self.hears_primary(**n, primary, now))
        {
            if !self.unreachable_reported {
                self.unreachable_reported = true;
                out.event(
                    now,
                    EventKind::PrimaryUnreachable,
                    self.subject(primary),
                    format!(
                        "Lifeline cannot reach it, but {} still streams from it: no failover",
                        self.name(*witness)
                    ),
                );
            }
            return;
        }
        if !self.cluster.auto_failover {
            self.refuse(
                primary,
                "auto_failover is off: waiting for an operator's `lifeline failover`".to_string(),
                now,
                out,
            );
            return;
        }
        match plan_request(self, None, false, now) {
            Ok(Plan::Failover { candidate }) => {
                let why = format!(
                    "primary {} failed {} checks and no standby hears from it",
                    self.name(primary),
                    self.nodes[primary].consecutive_failures
                );
                self.start_failover(candidate, now, &why, out);
            }
            Ok(Plan::Switchover { .. }) => {}
            Err(why) => self.refuse(primary, why, now, out),
        }
    }

    fn refuse(&mut self, primary: usize, why: String, now: Timestamp, out: &mut Out) {
        if !self.refused_reported {
            self.refused_reported = true;
            out.event(now, EventKind::FailoverRefused, self.subject(primary), why);
        }
    }

    /// A standby still streaming from the primary and hearing from it within the silence
    /// threshold: at least `primary_silence`, and more than the primary's keepalive interval
    /// (half its `wal_sender_timeout`) plus one check interval, so an idle primary is not
    /// mistaken for a dead one.
    fn hears_primary(&self, standby: usize, primary: usize, now: Timestamp) -> bool {
        let keepalive = self.nodes[primary]
            .facts
            .as_ref()
            .and_then(|f| f.wal_sender_timeout_ms)
            .map_or(Duration::ZERO, |ms| Duration::from_millis(ms / 2));
        let silence = self
            .cluster
            .primary_silence
            .max(keepalive + self.cluster.check_interval);
        self.streams_from(standby, primary, now)
            && self
                .fresh_facts(standby, now)
                .and_then(|f| f.receiver.as_ref())
                .and_then(|r| r.last_message_age_ms)
                .is_some_and(|age| Duration::from_millis(age) < silence)
    }

    /// Standbys that do not stream from the primary are re-pointed; old primaries that came
    /// back run the rejoin command, and leave the retired list once they stream.
    fn keep_standbys(&mut self, primary: usize, now: Timestamp, out: &mut Out) {
        for node in 0..self.nodes.len() {
            if node == primary || self.following.contains(&node) {
                continue;
            }
            let Some(facts) = self.fresh_facts(node, now) else {
                continue;
            };
            let streams = self.streams_from(node, primary, now);
            if self.is_retired(node) {
                if facts.in_recovery && streams {
                    let name = self.name(node).clone();
                    self.record.retired.retain(|n| n != &name);
                    self.rejoins.retain(|r| r.node != name);
                    out.push(ClusterAction::Persist(self.record.clone()));
                    out.event(
                        now,
                        EventKind::Rejoined,
                        self.subject(node),
                        format!("streams from {} as a standby", self.name(primary)),
                    );
                } else if self.cluster.rejoin_command.is_some() {
                    self.rejoin(node, primary, now, out);
                }
                continue;
            }
            if facts.in_recovery && !streams {
                // Only a standby whose upstream is positively another node (the old primary,
                // say) is re-pointed; one reconnecting, or reached through a route Lifeline
                // cannot match, is left alone.
                let upstream = facts
                    .receiver
                    .as_ref()
                    .and_then(|r| self.node_at(r.sender_host.as_deref(), r.sender_port))
                    .or_else(|| self.node_at(None, self.nodes[node].upstream_port));
                if upstream.is_some_and(|upstream| upstream != primary) {
                    self.following.push(node);
                    out.push(ClusterAction::Follow { node, primary });
                }
            }
        }
    }

    /// Runs the rejoin command for an old primary that does not stream: the first time, and
    /// again [`REJOIN_RETRY`] after a run that failed or left it not streaming. Never twice at
    /// once.
    fn rejoin(&mut self, node: usize, primary: usize, now: Timestamp, out: &mut Out) {
        let name = self.name(node).clone();
        match self.rejoins.iter_mut().find(|r| r.node == name) {
            None => self.rejoins.push(RejoinRun {
                node: name,
                finished: None,
            }),
            Some(run) => {
                let Some(finished) = run.finished else {
                    return;
                };
                if now.since(finished) < REJOIN_RETRY {
                    return;
                }
                run.finished = None;
                out.event(
                    now,
                    EventKind::NeedsRejoin,
                    self.subject(node),
                    format!(
                        "not streaming {}s after its last rejoin; running the rejoin command again",
                        REJOIN_RETRY.as_secs()
                    ),
                );
            }
        }
        out.push(ClusterAction::Rejoin { node, primary });
    }

    fn rejoin_finished(&mut self, node: usize, now: Timestamp) {
        let name = &self.cluster.nodes[node].name;
        if let Some(run) = self.rejoins.iter_mut().find(|r| &r.node == name) {
            run.finished = Some(now);
        }
    }

    /// Synchronous mode: `synchronous_standby_names` on the primary lists the healthy
    /// standbys that may be promoted. With none: strict mode keeps the old list (writes wait),
    /// otherwise the cluster degrades to async.
    fn keep_sync(&mut self, primary: usize, now: Timestamp, out: &mut Out) {
        if !self.cluster.synchronous_mode {
            return;
        }
        let Some(current) = self
            .fresh_facts(primary, now)
            .map(|f| f.synchronous_standby_names.clone())
        else {
            return;
        };
        // Membership follows health (the failure and rise thresholds), not every single check;
        // and only a standby the primary shows under its node name can be named, or the
        // setting would match no one and every commit would wait forever.
        let candidates: Vec<usize> = (0..self.nodes.len())
            .filter(|n| {
                *n != primary && !self.is_retired(*n) && !self.cluster.nodes[*n].no_failover
            })
            .filter(|n| self.settled_facts(*n).is_some_and(|f| f.in_recovery))
            .collect();
        let (identified, unknown): (Vec<usize>, Vec<usize>) = candidates
            .into_iter()
            .partition(|n| self.identified_on(*n, primary));
        self.report_unidentified(primary, &unknown, now, out);
        if self.sync_pending {
            return;
        }
        let members: Vec<NodeName> = identified.iter().map(|n| self.name(*n).clone()).collect();
        if members.is_empty() && self.cluster.synchronous_mode_strict && !current.is_empty() {
            return;
        }
        let current_members = members_of(&current);
        let recorded = self.record.sync.as_ref().map(|s| &s.members);
        let same = current_members.len() == members.len()
            && members
                .iter()
                .all(|m| current_members.iter().any(|c| c == m.as_str()));
        if same && recorded == Some(&members) {
            return;
        }
        self.sync_pending = true;
        out.push(ClusterAction::SetSyncNames { primary, members });
    }

    fn publish_route(&mut self, writer: Option<usize>, out: &mut Out) {
        let primary_lsn = self.last_primary_lsn;
        let limit = self.cluster.maximum_lag_on_failover;
        let mut readers: Vec<usize> = match writer {
            Some(primary) => (0..self.nodes.len())
                .filter(|n| *n != primary && !self.is_retired(*n))
                .filter(|n| {
                    self.settled_facts(*n).is_some_and(|f| {
                        f.in_recovery
                            && f.replay_lsn.is_some_and(|replayed| {
                                primary_lsn.is_none_or(|p| p.saturating_sub(replayed) <= limit)
                            })
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        if readers.is_empty() {
            readers.extend(writer);
        }
        let route = (writer, readers);
        if self.route.as_ref() != Some(&route) {
            self.route = Some(route.clone());
            out.push(ClusterAction::Route {
                writer: route.0,
                readers: route.1,
            });
        }
    }

    fn report_health(&mut self, now: Timestamp, out: &mut Out) {
        let health = self.compute_health(now);
        if health != self.health {
            out.push(ClusterAction::Record(
                NewEvent::new(
                    now,
                    EventKind::ClusterStateChanged,
                    self.cluster.name.as_str(),
                    self.health_reason(health),
                )
                .transition(self.health.as_str(), health.as_str()),
            ));
            self.health = health;
        }
    }

    fn compute_health(&self, now: Timestamp) -> ClusterHealth {
        if self.operation.is_some() {
            return ClusterHealth::FailoverInProgress;
        }
        let Some(primary) = self.primary().filter(|p| self.nodes[*p].healthy) else {
            return if self.nodes.iter().any(|n| n.healthy) && self.primary().is_some() {
                ClusterHealth::Degraded
            } else {
                ClusterHealth::Unknown
            };
        };
        if !self.record.retired.is_empty() {
            let rejoining = self
                .record
                .retired
                .iter()
                .filter_map(|n| self.index(n))
                .any(|n| {
                    self.rejoins.iter().any(|r| &r.node == self.name(n))
                        || self.fresh_facts(n, now).is_some_and(|f| f.in_recovery)
                });
            return if rejoining {
                ClusterHealth::RecoveryInProgress
            } else {
                ClusterHealth::FailoverComplete
            };
        }
        let standbys_fine = (0..self.nodes.len())
            .filter(|n| *n != primary)
            .all(|n| self.settled_streams_from(n, primary));
        if standbys_fine {
            ClusterHealth::Healthy
        } else {
            ClusterHealth::Degraded
        }
    }

    fn health_reason(&self, health: ClusterHealth) -> String {
        let primary = self
            .primary()
            .map_or("none".to_string(), |p| self.name(p).to_string());
        match health {
            ClusterHealth::Healthy => format!("primary {primary}, every standby streams"),
            ClusterHealth::Degraded => {
                format!("primary {primary}; a node is down or not streaming")
            }
            ClusterHealth::FailoverInProgress => "failover or switchover in progress".to_string(),
            ClusterHealth::FailoverComplete => {
                format!("primary {primary}; the old primary needs a rejoin")
            }
            ClusterHealth::RecoveryInProgress => {
                format!("primary {primary}; the old primary is rejoining")
            }
            ClusterHealth::Unknown => "no node is known to be primary".to_string(),
        }
    }
}
