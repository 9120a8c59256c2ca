//! Adopting standbys as users build them: `pg_basebackup -R` makes a standby stream as
//! `walreceiver`, so the primary's `pg_stat_replication` cannot tell which node it is, and a
//! `synchronous_standby_names` listing node names would match no one. Lifeline gives each
//! streaming standby its node name as `application_name` (through its own `primary_conninfo`,
//! as Patroni does) and never names a standby the primary does not show under that name.
//!
//! Renaming was chosen over matching by address: on one host, or behind NAT, every standby
//! connects from the same address, and `pg_stat_replication` shows no other trace of the node.

use std::time::Duration;

use lifeline_model::{EventKind, Timestamp};

use super::decide::{ClusterAction, Out};
use super::state::{Adoption, AdoptionStage, ClusterState};

/// The action's name in `ActionResult::Failed`.
pub(super) const ADOPT: &str = "give the standby its node name";

/// A standby that could not be renamed is tried again this long after.
const ADOPT_RETRY: Duration = Duration::from_secs(30);

impl ClusterState {
    /// Renames every standby that streams from `primary` under another name than its node's.
    pub(super) fn adopt_standbys(&mut self, primary: usize, now: Timestamp, out: &mut Out) {
        for node in 0..self.nodes.len() {
            if node == primary || !self.streams_from(node, primary, now) {
                continue;
            }
            let streams_as = self
                .fresh_facts(node, now)
                .and_then(|f| f.receiver.as_ref())
                .and_then(|r| r.application_name.as_deref());
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

    pub(super) fn adopted(&mut self, node: usize, now: Timestamp, out: &mut Out) {
        self.set_adoption(node, AdoptionStage::Done(now));
        let was = self.nodes[node]
            .facts
            .as_ref()
            .and_then(|f| f.receiver.as_ref())
            .and_then(|r| r.application_name.clone())
            .unwrap_or_default();
        let name = self.name(node).clone();
        out.event(
            now,
            EventKind::StandbyAdopted,
            self.subject(node),
            format!("streams as application_name '{name}' instead of '{was}' from now on"),
        );
    }

    pub(super) fn adoption_failed(&mut self, node: usize, now: Timestamp) {
        self.set_adoption(node, AdoptionStage::Failed(now));
    }

    fn set_adoption(&mut self, node: usize, stage: AdoptionStage) {
        if let Some(adoption) = self.adoptions.iter_mut().find(|a| a.node == node) {
            adoption.stage = stage;
        }
    }

    /// Whether renaming `node` runs or waits to take effect: until then it is not reported.
    fn adopting(&self, node: usize) -> bool {
        self.adoptions
            .iter()
            .any(|a| a.node == node && !matches!(a.stage, AdoptionStage::Failed(_)))
    }

    /// Says once, per standby, that it streams but cannot be told apart on the primary, so it
    /// is not synchronous; again after it was identified and lost once more.
    pub(super) fn report_unidentified(
        &mut self,
        primary: usize,
        unknown: &[usize],
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
                .and_then(|f| f.receiver.as_ref())
                .and_then(|r| r.application_name.clone())
                .unwrap_or_else(|| "an unknown name".to_string());
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
