//! `decide(state, input, now) -> actions` for one cluster, one phase per module:
//!
//! - `checks`: a node's check result, and its health.
//! - `primary`: who is primary, from the nodes themselves; whether it failed and a failover is
//!   due, or only Lifeline's link to it broke.
//! - `failover`: failovers and switchovers, from their start to the promotion's outcome.
//! - `standbys`: standbys re-pointed at the primary; old primaries rejoining.
//! - `adopt`: standbys given their node name upstream, so the primary can tell them apart.
//! - `sync`: the primary's synchronous set in synchronous mode.
//! - `routes`: the writer and reader endpoints, and the cluster's state.
//!
//! Each input is folded in by its phase, then [`ClusterState::reconcile`] runs the phases in
//! order. Everything here is pure: facts in, [`ClusterAction`]s out.

mod adopt;
mod checks;
mod failover;
mod primary;
mod routes;
mod standbys;
mod sync;

use std::fmt;
use std::time::Duration;

use lifeline_model::{CheckFailure, EventKind, NewEvent, NodeFacts, NodeName, Timestamp};

use super::select::Plan;
use super::state::{ClusterRecord, ClusterState, NodeId};

#[derive(Clone, Debug)]
pub enum ClusterInput {
    /// One check of one node.
    Checked {
        node: NodeId,
        at: Timestamp,
        latency: Duration,
        /// Boxed: facts are large, and most inputs are not checks.
        outcome: Result<Box<NodeFacts>, CheckFailure>,
    },
    /// An operator's failover or switchover, already planned with
    /// [`plan_request`](super::plan_request).
    Start(Plan),
    /// An action reports back.
    Done(ActionResult),
    /// This instance became the leader (with the record as the store has it now: another
    /// leader may have changed it), or stopped leading.
    Role {
        leading: bool,
        record: Option<ClusterRecord>,
    },
    /// The leader stored a new record; a follower routes by it.
    Stored(ClusterRecord),
    /// This instance is cut off (it reaches neither the store nor most other instances, or
    /// they know a newer epoch): another leader may have replaced the primary, so the writer
    /// closes until it is back in touch.
    Isolated(bool),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ActionResult {
    Promoted {
        node: NodeId,
        /// Its new timeline, for a kind that has them.
        timeline: Option<u32>,
    },
    Fenced {
        node: NodeId,
        position: u64,
    },
    CaughtUp {
        node: NodeId,
    },
    Followed {
        node: NodeId,
    },
    Unfenced {
        node: NodeId,
    },
    SyncSet {
        members: Vec<NodeName>,
        /// The primary's position once the set took effect.
        position: u64,
    },
    Rejoined {
        node: NodeId,
    },
    Adopted {
        node: NodeId,
    },
    Failed {
        node: NodeId,
        action: ActionKind,
        error: String,
    },
}

/// Which action an [`ActionResult::Failed`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    Promote,
    Fence,
    CatchUp,
    Follow,
    Unfence,
    SetSync,
    Rejoin,
    Adopt,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ClusterAction {
    Record(NewEvent),
    Persist(ClusterRecord),
    /// Publish the endpoints: the writer's node (`None`: hold new connections, close existing
    /// ones) and the readers'.
    Route {
        writer: Option<NodeId>,
        readers: Vec<NodeId>,
    },
    Promote {
        node: NodeId,
    },
    /// Stop the primary's writes; report its final position.
    Fence {
        node: NodeId,
    },
    /// Wait until `node` has received everything up to `position`.
    AwaitCatchUp {
        node: NodeId,
        position: u64,
    },
    Follow {
        node: NodeId,
        primary: NodeId,
    },
    Unfence {
        node: NodeId,
    },
    SetSync {
        primary: NodeId,
        members: Vec<NodeName>,
    },
    Rejoin {
        node: NodeId,
        primary: NodeId,
    },
    /// Make the standby stream under its node name, keeping the rest of how it connects.
    Adopt {
        node: NodeId,
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
        ClusterInput::Role { leading, record } => state.role(leading, record),
        ClusterInput::Stored(record) => state.stored(record),
        ClusterInput::Isolated(isolated) => state.isolated = isolated,
    }
    state.reconcile(now, &mut out);
    if !state.leading {
        // A follower acts on nothing and records nothing: it only routes, by the leader's record.
        out.0
            .retain(|action| matches!(action, ClusterAction::Route { .. }));
    }
    out.0
}

/// The actions one input leads to, in order.
#[derive(Default)]
struct Out(Vec<ClusterAction>);

// === impl Out ===

impl Out {
    fn push(&mut self, action: ClusterAction) {
        self.0.push(action);
    }

    fn event(
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

// === impl ClusterAction ===

impl ClusterAction {
    /// The node an action at the edges works on, and which action it is; `None` for the
    /// loop's own (`Record`, `Persist`, `Route`).
    pub fn target(&self) -> Option<(NodeId, ActionKind)> {
        match self {
            ClusterAction::Record(_) | ClusterAction::Persist(_) | ClusterAction::Route { .. } => {
                None
            }
            ClusterAction::Promote { node } => Some((*node, ActionKind::Promote)),
            ClusterAction::Fence { node } => Some((*node, ActionKind::Fence)),
            ClusterAction::AwaitCatchUp { node, .. } => Some((*node, ActionKind::CatchUp)),
            ClusterAction::Follow { node, .. } => Some((*node, ActionKind::Follow)),
            ClusterAction::Unfence { node } => Some((*node, ActionKind::Unfence)),
            ClusterAction::SetSync { primary, .. } => Some((*primary, ActionKind::SetSync)),
            ClusterAction::Rejoin { node, .. } => Some((*node, ActionKind::Rejoin)),
            ClusterAction::Adopt { node } => Some((*node, ActionKind::Adopt)),
        }
    }
}

// === impl ActionKind ===

impl ActionKind {
    /// The action's name in an `action_failed` event.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Promote => "promote",
            ActionKind::Fence => "fence",
            ActionKind::CatchUp => "catch up",
            ActionKind::Follow => "re-point",
            ActionKind::Unfence => "unfence",
            ActionKind::SetSync => "set the synchronous standbys",
            ActionKind::Rejoin => "rejoin",
            ActionKind::Adopt => "give the standby its node name",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl ClusterState: inputs and reconcile ===

impl ClusterState {
    /// `cluster/node`, the subject of a node's events.
    fn subject(&self, node: NodeId) -> String {
        format!("{}/{}", self.cluster.name, self.name(node))
    }

    /// An action reported back: each result goes to the phase that ordered it.
    fn done(&mut self, result: ActionResult, now: Timestamp, out: &mut Out) {
        match result {
            ActionResult::Promoted { node, timeline } => self.promoted(node, timeline, now, out),
            ActionResult::Fenced { node, position } => self.fenced(node, position, out),
            ActionResult::CaughtUp { node } => self.caught_up(node, out),
            ActionResult::Followed { node } => self.followed(node, now, out),
            ActionResult::Unfenced { node } => {
                self.unfencing.retain(|n| *n != node);
                // Its last facts still say fenced; until the next check, trust the unfence.
                if let Some(facts) = &mut self.nodes[node].facts {
                    facts.fenced = false;
                }
                if self.record.fenced.as_ref() == Some(self.name(node)) {
                    self.record.fenced = None;
                    out.push(ClusterAction::Persist(self.record.clone()));
                }
                self.unfence_again_at = None;
            }
            ActionResult::SyncSet { members, position } => {
                self.sync_set(members, position, now, out)
            }
            ActionResult::Rejoined { node } => self.rejoined(node, now, out),
            ActionResult::Adopted { node } => self.adopted(node, now, out),
            ActionResult::Failed {
                node,
                action,
                error,
            } => self.failed(node, action, error, now, out),
        }
    }

    /// After every input: settle who is primary, fail over if needed, keep standbys, sync
    /// standbys and endpoints in line, and report the cluster's state.
    fn reconcile(&mut self, now: Timestamp, out: &mut Out) {
        // Until every node has answered (or failed) once, a second writable primary could be
        // hiding: nothing is decided and the writer holds.
        if !self.all_checked() {
            return;
        }
        if !self.leading {
            // A follower keeps the primary's last position too: should it lead after the
            // leader died with the primary, the lag of a candidate is known.
            self.note_primary_position(now);
            self.publish_route(self.writable_primary(), out);
            self.report_health(now, out);
            return;
        }
        if self.operation.is_none() {
            self.resume_promotion(now, out);
        }
        if self.operation.is_none() {
            self.settle_primary(now, out);
            self.note_primary_position(now);
            self.watch_primary(now, out);
        }
        if self.operation.is_none()
            && let Some(primary) = self.primary().filter(|p| self.nodes[*p].healthy)
        {
            self.unfence_stranded(primary, now, out);
            self.keep_standbys(primary, now, out);
            self.adopt_standbys(primary, now, out);
            self.keep_sync(primary, now, out);
        }
        if self.operation.is_none() {
            self.publish_route(self.writable_primary(), out);
        }
        self.report_health(now, out);
    }

    /// The position the primary last showed, for the lag of a candidate in async mode.
    fn note_primary_position(&mut self, now: Timestamp) {
        if let Some(position) = self
            .primary()
            .and_then(|p| self.fresh_facts(p, now))
            .filter(|f| f.is_primary())
            .and_then(|f| f.position)
        {
            self.last_primary_position = Some(position);
        }
    }

    /// The known primary, if it may take writes now: this instance is in touch, and the node
    /// healthy, not being unfenced, and not seen as a replica.
    fn writable_primary(&self) -> Option<NodeId> {
        self.primary().filter(|p| {
            !self.isolated
                && self.nodes[*p].healthy
                && !self.unfencing.contains(p)
                && !self.nodes[*p]
                    .facts
                    .as_ref()
                    .is_some_and(|f| f.is_replica())
        })
    }

    /// Leading from now on, from the record as stored now; or following: whatever was in
    /// flight is left to the next leader, which resumes it from the store.
    fn role(&mut self, leading: bool, record: Option<ClusterRecord>) {
        self.leading = leading;
        if let Some(record) = record {
            self.record = record;
        }
        self.operation = None;
        self.following.clear();
        self.sync_pending = false;
        self.unfencing.clear();
        self.unfence_again_at = None;
        self.rejoins.clear();
        self.adoptions.clear();
        self.refused_reported = false;
        self.unreachable_reported = false;
        self.split_reported = false;
    }

    /// The leader's record; a leader keeps its own (it wrote what is stored).
    fn stored(&mut self, record: ClusterRecord) {
        if !self.leading {
            self.record = record;
        }
    }
}
