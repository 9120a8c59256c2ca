//! Who is primary, read from the nodes themselves, and whether it failed: a failover when it
//! missed `failure_threshold` checks and no standby still hears from it.

use std::time::Duration;

use lifeline_model::{EventKind, Timestamp};

use super::{ClusterAction, Out};
use crate::cluster::select::{Plan, plan_request};
use crate::cluster::state::{ClusterState, NodeId};

// === impl ClusterState: the primary ===

impl ClusterState {
    /// Which node is primary, from the nodes themselves: the known primary while it is the one
    /// writable node; a lone writable node; the highest timeline among several (split brain).
    pub(super) fn settle_primary(&mut self, now: Timestamp, out: &mut Out) {
        let writable: Vec<NodeId> = self
            .ids()
            .filter(|n| {
                self.fresh_facts(*n, now).is_some_and(|f| f.is_primary()) && !self.is_retired(*n)
            })
            .collect();
        let known = self.primary();
        match writable.as_slice() {
            [] => {}
            [only] if Some(*only) == known => self.split_reported = false,
            [only] => {
                if known.is_none_or(|p| {
                    !self.nodes[p].healthy
                        || self.fresh_facts(p, now).is_some_and(|f| f.is_replica())
                }) {
                    self.record.primary = Some(self.name(*only).clone());
                    out.push(ClusterAction::Persist(self.record.clone()));
                }
            }
            several => self.split_brain(several, now, out),
        }
    }

    /// Several writable nodes: the one on the highest timeline keeps the writes and the others
    /// need a rejoin; on a tie, writes go to none of them.
    fn split_brain(&mut self, several: &[NodeId], now: Timestamp, out: &mut Out) {
        let timeline = |n: &NodeId| {
            self.fresh_facts(*n, now)
                .and_then(|f| f.timeline)
                .unwrap_or(0)
        };
        let top = several.iter().map(timeline).max().unwrap_or(0);
        let leaders: Vec<NodeId> = several
            .iter()
            .copied()
            .filter(|n| timeline(n) == top)
            .collect();
        let names: Vec<String> = several.iter().map(|n| self.name(*n).to_string()).collect();
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
                format!(
                    "writable primaries {}: {} has the highest timeline ({top}) and keeps the writes; the others need a rejoin",
                    names.join(", "),
                    self.name(*leader)
                ),
            );
        } else {
            self.record.primary = None;
            if !self.split_reported {
                self.split_reported = true;
                out.event(
                    now,
                    EventKind::SplitBrain,
                    self.cluster.name.as_str(),
                    format!(
                        "writable primaries {} on the same timeline: writes go to neither until an operator resolves it",
                        names.join(", ")
                    ),
                );
            }
        }
    }

    /// The primary failed `failure_threshold` checks: fail over, unless its standbys still hear
    /// from it (only Lifeline's link is broken) or no standby may be promoted.
    pub(super) fn watch_primary(&mut self, now: Timestamp, out: &mut Out) {
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
        let standbys: Vec<NodeId> = self
            .ids()
            .filter(|n| *n != primary && self.fresh_facts(*n, now).is_some_and(|f| f.is_replica()))
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
            Err(why) => self.refuse(primary, why.to_string(), now, out),
        }
    }

    /// Reports a refused failover once per incident.
    fn refuse(&mut self, primary: NodeId, why: String, now: Timestamp, out: &mut Out) {
        if !self.refused_reported {
            self.refused_reported = true;
            out.event(now, EventKind::FailoverRefused, self.subject(primary), why);
        }
    }

    /// A standby still streaming from the primary and hearing from it within the silence
    /// threshold: at least `primary_silence`, and more than the primary's keepalive interval
    /// plus one check interval, so an idle primary is not mistaken for a dead one.
    fn hears_primary(&self, standby: NodeId, primary: NodeId, now: Timestamp) -> bool {
        let keepalive = self.nodes[primary]
            .facts
            .as_ref()
            .and_then(|f| f.keepalive)
            .unwrap_or(Duration::ZERO);
        let silence = self
            .cluster
            .primary_silence
            .max(keepalive + self.cluster.check_interval);
        self.streams_from(standby, primary, now)
            && self
                .fresh_facts(standby, now)
                .and_then(|f| f.upstream.as_ref())
                .and_then(|upstream| upstream.last_message_age)
                .is_some_and(|age| age < silence)
    }
}
