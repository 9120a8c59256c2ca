//! Synchronous mode: the primary's synchronous set follows the healthy standbys that may be
//! promoted, so that a commit is acknowledged only once one of them has it.

use lifeline_model::{EventKind, NodeName, Timestamp};

use super::{ClusterAction, Out};
use crate::cluster::state::{ClusterState, NodeId, SyncSet};

// === impl ClusterState: the synchronous set ===

impl ClusterState {
    /// The synchronous set on the primary lists the healthy standbys that may be promoted.
    /// With none: strict mode keeps the old set (writes wait), otherwise the cluster degrades
    /// to async.
    pub(super) fn keep_sync(&mut self, primary: NodeId, now: Timestamp, out: &mut Out) {
        if !self.cluster.synchronous_mode {
            return;
        }
        let Some(current) = self
            .fresh_facts(primary, now)
            .map(|f| f.synchronous.clone())
        else {
            return;
        };
        // Membership follows health (the failure and rise thresholds), not every single check;
        // and only a standby the primary shows under its node name can be named, or the set
        // would match no one and every commit would wait forever.
        let candidates: Vec<NodeId> = self
            .ids()
            .filter(|n| {
                *n != primary && !self.is_retired(*n) && !self.cluster.nodes[*n].no_failover
            })
            .filter(|n| self.settled_facts(*n).is_some_and(|f| f.is_replica()))
            .collect();
        let (identified, unknown): (Vec<NodeId>, Vec<NodeId>) = candidates
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
        let recorded = self.record.sync.as_ref().map(|s| &s.members);
        let same = current.len() == members.len()
            && members
                .iter()
                .all(|m| current.iter().any(|c| c == m.as_str()));
        if same && recorded == Some(&members) {
            return;
        }
        self.sync_pending = true;
        out.push(ClusterAction::SetSync { primary, members });
    }

    /// The primary uses `members` as its synchronous set since `position`.
    pub(super) fn sync_set(
        &mut self,
        members: Vec<NodeName>,
        position: u64,
        now: Timestamp,
        out: &mut Out,
    ) {
        self.sync_pending = false;
        // The action verified the primary uses it; don't wait for the next check to know.
        if let Some(facts) = self.primary().and_then(|p| self.nodes[p].facts.as_mut()) {
            facts.synchronous = members.iter().map(ToString::to_string).collect();
        }
        let reason = if members.is_empty() {
            "no healthy standby the primary can identify: commits are acknowledged without one \
             (degraded to async)"
                .to_string()
        } else {
            let names: Vec<&str> = members.iter().map(NodeName::as_str).collect();
            format!(
                "synchronous standbys {}: a commit waits for one of them",
                names.join(", ")
            )
        };
        self.record.sync = Some(SyncSet {
            members,
            since: position,
        });
        out.push(ClusterAction::Persist(self.record.clone()));
        out.event(
            now,
            EventKind::SyncStandbysChanged,
            self.cluster.name.as_str(),
            reason,
        );
    }
}
