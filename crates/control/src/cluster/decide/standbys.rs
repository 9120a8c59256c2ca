//! Standbys in line with the primary: one that streams from another node is re-pointed; an old
//! primary that came back runs the rejoin command until it streams as a standby.

use std::time::Duration;

use lifeline_model::{EventKind, Timestamp};

use super::{ClusterAction, Out};
use crate::cluster::state::{ClusterState, NodeId, RejoinRun};

/// An old primary that failed its rejoin, or still does not stream this long after it, gets
/// the rejoin command again.
const REJOIN_RETRY: Duration = Duration::from_secs(30);

// === impl ClusterState: standbys ===

impl ClusterState {
    /// Standbys that do not stream from the primary are re-pointed; old primaries that came
    /// back run the rejoin command, and leave the retired list once they stream.
    pub(super) fn keep_standbys(&mut self, primary: NodeId, now: Timestamp, out: &mut Out) {
        for node in self.ids() {
            if node == primary || self.following.contains(&node) {
                continue;
            }
            let Some(facts) = self.fresh_facts(node, now) else {
                continue;
            };
            let streams = self.streams_from(node, primary, now);
            if self.is_retired(node) {
                if facts.is_replica() && streams {
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
                } else if self.cluster.rejoin_command.is_some()
                    || self.cluster.kind.rejoins_by_replicating()
                {
                    self.rejoin(node, primary, now, out);
                }
                continue;
            }
            let stale = self.nodes[node]
                .repointed_at
                .is_some_and(|at| self.nodes[node].facts_at.is_none_or(|checked| checked < at));
            if facts.is_replica() && !streams && !stale {
                // Only a standby whose upstream is positively another node (the old primary,
                // say) is re-pointed; one reconnecting, or reached through a route Lifeline
                // cannot match, is left alone.
                let upstream = facts
                    .upstream
                    .as_ref()
                    .and_then(|u| self.node_at(u.host.as_deref(), u.port))
                    .or_else(|| self.node_at(None, self.nodes[node].upstream_port));
                if upstream.is_some_and(|upstream| upstream != primary) {
                    self.following.push(node);
                    out.push(ClusterAction::Follow { node, primary });
                }
            }
        }
    }

    /// A standby was re-pointed at the primary.
    pub(super) fn followed(&mut self, node: NodeId, now: Timestamp, out: &mut Out) {
        self.following.retain(|n| *n != node);
        self.nodes[node].repointed_at = Some(now);
        self.nodes[node].upstream_port = self.primary().map(|p| self.cluster.nodes[p].port());
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

    /// Runs the rejoin command for an old primary that does not stream: the first time, and
    /// again [`REJOIN_RETRY`] after a run that failed or left it not streaming. Never twice at
    /// once.
    fn rejoin(&mut self, node: NodeId, primary: NodeId, now: Timestamp, out: &mut Out) {
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

    /// The rejoin command ended well; the node counts as rejoined once it streams.
    pub(super) fn rejoined(&mut self, node: NodeId, now: Timestamp, out: &mut Out) {
        self.rejoin_finished(node, now);
        out.event(
            now,
            EventKind::Rejoined,
            self.subject(node),
            "rejoin finished; waiting for it to stream",
        );
    }

    /// The rejoin command's run for `node` ended, well or not.
    pub(super) fn rejoin_finished(&mut self, node: NodeId, now: Timestamp) {
        let name = &self.cluster.nodes[node].name;
        if let Some(run) = self.rejoins.iter_mut().find(|r| &r.node == name) {
            run.finished = Some(now);
        }
    }
}
