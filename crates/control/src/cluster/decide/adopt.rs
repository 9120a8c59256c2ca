//! Adopting standbys as users build them: a standby streams under whatever name it was set up
//! with (PostgreSQL's `pg_basebackup -R` makes it `walreceiver`), so the primary cannot tell
//! which node it is, and a synchronous set of node names would match no one. Lifeline gives
//! each streaming standby its node name upstream (PostgreSQL: as `application_name` in its own
//! `primary_conninfo`, as Patroni does) and never names a standby the primary does not show
//! under that name.
//!
//! Renaming was chosen over matching by address: on one host, or behind NAT, every standby
//! connects from the same address, and the primary shows no other trace of the node.

use std::time::Duration;

use lifeline_model::{EventKind, NodeFacts, Timestamp};

use super::{ClusterAction, Out};
use crate::cluster::state::{Adoption, AdoptionStage, ClusterState, NodeId};

/// A standby that could not be renamed is tried again this long after.
const ADOPT_RETRY: Duration = Duration::from_secs(30);

// === impl ClusterState: adoption ===

impl ClusterState {
    /// Renames every standby that streams from `primary` under another name than its node's.
    pub(super) fn adopt_standbys(&mut self, primary: NodeId, now: Timestamp, out: &mut Out) {
        for node in self.ids() {
            if node == primary || !self.streams_from(node, primary, now) {
                continue;
            }
            let streams_as = self.fresh_facts(node, now).and_then(NodeFacts::streams_as);
            if streams_as.is_none_or(|name| name == self.name(node).as_str()) {
                self.adoptions.retain(|a| a.node != node);
                continue;
            }
            match self.adoptions.iter_mut().find(|a| a.node == node) {
                None => self.adoptions.push(Adoption {
                    node,
                    stage: AdoptionStage::Running,
                }),
                Some(adoption) => match adoption.stage {
                    AdoptionStage::Done(at) | AdoptionStage::Failed(at)
                        if now.since(at) >= ADOPT_RETRY =>
                    {
                        adoption.stage = AdoptionStage::Running;
                    }
                    _ => continue,
                },
            }
            out.push(ClusterAction::Adopt { node });
        }
    }

    /// The standby was renamed; it takes effect once it reconnects.
    pub(super) fn adopted(&mut self, node: NodeId, now: Timestamp, out: &mut Out) {
        self.set_adoption(node, AdoptionStage::Done(now));
        let was = self.nodes[node]
            .facts
            .as_ref()
            .and_then(NodeFacts::streams_as)
            .unwrap_or_default()
            .to_string();
        let name = self.name(node).clone();
        out.event(
            now,
            EventKind::StandbyAdopted,
            self.subject(node),
            format!("streams as '{name}' instead of '{was}' from now on"),
        );
    }

    pub(super) fn adoption_failed(&mut self, node: NodeId, now: Timestamp) {
        self.set_adoption(node, AdoptionStage::Failed(now));
    }

    fn set_adoption(&mut self, node: NodeId, stage: AdoptionStage) {
        if let Some(adoption) = self.adoptions.iter_mut().find(|a| a.node == node) {
            adoption.stage = stage;
        }
    }

    /// Whether renaming `node` runs or waits to take effect: until then it is not reported.
    fn adopting(&self, node: NodeId) -> bool {
        self.adoptions
            .iter()
            .any(|a| a.node == node && !matches!(a.stage, AdoptionStage::Failed(_)))
    }

    /// Says once, per standby, that it streams but cannot be told apart on the primary, so it
    /// is not synchronous; again after it was identified and lost once more.
    pub(super) fn report_unidentified(
        &mut self,
        primary: NodeId,
        unknown: &[NodeId],
        now: Timestamp,
        out: &mut Out,
    ) {
        self.unidentified.retain(|n| unknown.contains(n));
        for &node in unknown {
            if self.unidentified.contains(&node)
                || self.adopting(node)
                || !self.settled_streams_from(node, primary)
            {
                continue;
            }
            self.unidentified.push(node);
            let streams_as = self
                .settled_facts(node)
                .and_then(NodeFacts::streams_as)
                .unwrap_or("an unknown name")
                .to_string();
            let reason = format!(
                "streams from {} as '{streams_as}', and the primary shows no standby named '{}': \
                 not counted as synchronous until it does",
                self.name(primary),
                self.name(node)
            );
            out.event(
                now,
                EventKind::StandbyUnidentified,
                self.subject(node),
                reason,
            );
        }
    }
}
