//! Which standby to promote, and whether it may be: the most advanced healthy standby that is
//! not `no_failover`, then by priority; in async mode never one further behind than
//! `maximum_lag_on_failover`; in synchronous mode only one that provably holds every
//! acknowledged commit.

use lifeline_model::{NodeName, Timestamp};

use super::error::OperationError;
use super::state::{ClusterState, NodeId};

/// What an operator's request (or a failed primary) leads to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Promote this standby now: the primary is gone.
    Failover { candidate: NodeId },
    /// The primary is healthy: stop its writes, let the target catch up, promote it.
    Switchover { target: NodeId },
}

/// Plans `lifeline failover`/`switchover` (and an automatic failover, with no target). `Err`
/// says why nothing may be done.
pub fn plan_request(
    state: &ClusterState,
    target: Option<&NodeName>,
    force: bool,
    now: Timestamp,
) -> Result<Plan, OperationError> {
    // An unfence in flight would race a new fence on the same primary.
    if state.in_progress() || !state.unfencing.is_empty() {
        return Err(OperationError::InProgress);
    }
    let target = match target {
        Some(name) => Some(state.id(name).ok_or_else(|| OperationError::UnknownNode {
            cluster: state.cluster.name.clone(),
            node: name.clone(),
        })?),
        None => None,
    };
    let primary = state.primary();
    let primary_alive =
        primary.is_some_and(|p| state.nodes[p].healthy && state.nodes[p].consecutive_failures == 0);
    match (primary, primary_alive) {
        (Some(primary), true) => {
            let target = choose(state, target, true, now, |node| {
                state.streams_from(node, primary, now)
            })
            .map_err(OperationError::Refused)?;
            Ok(Plan::Switchover { target })
        }
        _ => {
            let candidate =
                choose(state, target, force, now, |_| true).map_err(OperationError::Refused)?;
            Ok(Plan::Failover { candidate })
        }
    }
}

/// The best eligible standby (or `target`, if eligible), checked against the data-loss rules
/// unless `force`.
fn choose(
    state: &ClusterState,
    target: Option<NodeId>,
    force: bool,
    now: Timestamp,
    extra: impl Fn(NodeId) -> bool,
) -> Result<NodeId, String> {
    let cluster = &state.cluster;
    let eligible = |node: NodeId| -> Result<(), String> {
        let name = state.name(node);
        if Some(node) == state.primary() {
            return Err(format!("{name} is the primary"));
        }
        if cluster.nodes[node].no_failover {
            return Err(format!("{name} is no_failover"));
        }
        if state.is_retired(node) {
            return Err(format!("{name} is an old primary that has not rejoined"));
        }
        match state.fresh_facts(node, now) {
            Some(facts) if facts.is_replica() => {}
            Some(_) => return Err(format!("{name} is not a standby")),
            None => return Err(format!("{name} is not healthy")),
        }
        if !extra(node) {
            return Err(format!("{name} does not stream from the primary"));
        }
        Ok(())
    };
    let position = |node: NodeId| state.fresh_facts(node, now).and_then(|f| f.position);
    let candidate = match target {
        Some(node) => {
            eligible(node).map_err(|why| format!("cannot promote {}: {why}", state.name(node)))?;
            node
        }
        None => {
            let mut nodes: Vec<NodeId> = state.ids().filter(|n| eligible(*n).is_ok()).collect();
            nodes.sort_by(|a, b| {
                position(*b)
                    .cmp(&position(*a))
                    .then(cluster.nodes[*b].priority.cmp(&cluster.nodes[*a].priority))
                    .then(cluster.nodes[*a].name.cmp(&cluster.nodes[*b].name))
            });
            *nodes.first().ok_or("no healthy standby may be promoted")?
        }
    };
    if force {
        return Ok(candidate);
    }
    match state
        .record
        .sync
        .as_ref()
        .filter(|sync| cluster.synchronous_mode && !sync.members.is_empty())
    {
        Some(sync) => prove_synchronous(state, candidate, sync, now)?,
        None => check_lag(state, candidate, position(candidate))?,
    }
    Ok(candidate)
}

/// Async mode: never further behind than `maximum_lag_on_failover`.
fn check_lag(state: &ClusterState, candidate: NodeId, position: Option<u64>) -> Result<(), String> {
    let name = state.name(candidate);
    let limit = state.cluster.maximum_lag_on_failover;
    let Some(primary) = state.last_primary_position else {
        return Err(format!(
            "the primary's position was never read, so {name}'s lag is unknown; force the failover to promote anyway"
        ));
    };
    let behind = primary.saturating_sub(position.unwrap_or(0));
    if behind > limit {
        return Err(format!(
            "{name} is {behind} bytes behind the primary's last known position (maximum_lag_on_failover {limit}); force the failover to promote anyway"
        ));
    }
    Ok(())
}

/// Synchronous mode: every acknowledged commit was flushed by at least one member of the sync
/// set. With every member reachable, the most advanced one holds them all, provided it is past
/// the point where the set last changed.
fn prove_synchronous(
    state: &ClusterState,
    candidate: NodeId,
    sync: &super::state::SyncSet,
    now: Timestamp,
) -> Result<(), String> {
    let name = state.name(candidate);
    if !sync.members.contains(name) {
        return Err(format!(
            "{name} is not a synchronous standby, so it may lack acknowledged commits"
        ));
    }
    let mut best = 0;
    for member in &sync.members {
        let position = state
            .id(member)
            .and_then(|node| state.fresh_facts(node, now))
            .and_then(|facts| facts.position)
            .ok_or_else(|| {
                format!("cannot prove {name} holds every acknowledged commit: synchronous standby {member} is unreachable")
            })?;
        best = best.max(position);
    }
    let mine = state
        .fresh_facts(candidate, now)
        .and_then(|f| f.position)
        .unwrap_or(0);
    if mine < best {
        return Err(format!(
            "{name} is behind another synchronous standby; promote the most advanced one"
        ));
    }
    if mine < sync.since {
        return Err(format!(
            "cannot prove {name} holds every acknowledged commit: it has not reached the position where the synchronous set last changed"
        ));
    }
    Ok(())
}
