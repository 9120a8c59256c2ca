//! The I/O at a cluster's edges: every check and every node action goes through the cluster's
//! [`ClusterDriver`], whatever database it speaks to, as a task that reports back to the
//! cluster's loop as a [`ClusterInput`].

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_model::{Cadence, Cluster, ClusterDriver, NodeDriver, Pace, Timestamp, jittered};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;

use super::{ActionKind, ActionResult, ClusterAction, ClusterInput, NodeId};
use crate::recorder::Granted;

/// How long a promotion may take.
const PROMOTE_WAIT: Duration = Duration::from_secs(10);
/// How long a switchover target may take to receive the old primary's last changes.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
/// How long the rejoin command may run.
const REJOIN_WAIT: Duration = Duration::from_secs(300);
/// A check triggered by a lost connection comes at least this long after the one before.
const LOST_RECHECK: Duration = Duration::from_millis(50);
/// How often a switchover target is probed while it catches up.
const CATCH_UP_POLL: Duration = Duration::from_millis(10);

/// Starts what `action` asks of a node as a task in `tasks`, once `granted` says this instance
/// still leads (a deposed leader's action is reported failed, never done). `Record`, `Persist`
/// and `Route` are the loop's own business and are not for here.
pub(super) fn spawn(
    action: ClusterAction,
    granted: Granted,
    cluster: &Cluster,
    driver: &Arc<dyn ClusterDriver>,
    inputs: mpsc::Sender<ClusterInput>,
    tasks: &mut JoinSet<()>,
) {
    let timeout = cluster.check_interval.max(Duration::from_secs(2));
    let connect = |node: NodeId| driver.connect(&cluster.nodes[node], timeout);
    let Some(ordered) = action.target() else {
        tracing::error!(?action, "not an action at the edges");
        return;
    };
    match action {
        ClusterAction::Record(_) | ClusterAction::Persist(_) | ClusterAction::Route { .. } => {}
        ClusterAction::Promote { node } => {
            let mut client = connect(node);
            tasks.spawn(report(inputs, granted, ordered, async move {
                match client.promote(PROMOTE_WAIT).await {
                    Ok(timeline) => ActionResult::Promoted { node, timeline },
                    Err(error) => failed(node, ActionKind::Promote, error),
                }
            }));
        }
        ClusterAction::Fence { node } => {
            let mut client = connect(node);
            tasks.spawn(report(inputs, granted, ordered, async move {
                match client.fence().await {
                    Ok(position) => ActionResult::Fenced { node, position },
                    Err(error) => failed(node, ActionKind::Fence, error),
                }
            }));
        }
        ClusterAction::AwaitCatchUp { node, position } => {
            let mut client = connect(node);
            tasks.spawn(report(inputs, granted, ordered, async move {
                catch_up(client.as_mut(), node, position).await
            }));
        }
        ClusterAction::Follow { node, primary } => {
            let mut client = connect(node);
            let upstream = cluster.nodes[primary].clone();
            tasks.spawn(report(inputs, granted, ordered, async move {
                match client.follow(&upstream).await {
                    Ok(()) => ActionResult::Followed { node },
                    Err(error) => failed(node, ActionKind::Follow, error),
                }
            }));
        }
        ClusterAction::Unfence { node } => {
            let mut client = connect(node);
            tasks.spawn(report(inputs, granted, ordered, async move {
                match client.unfence().await {
                    Ok(()) => ActionResult::Unfenced { node },
                    Err(error) => failed(node, ActionKind::Unfence, error),
                }
            }));
        }
        ClusterAction::SetSync { primary, members } => {
            let mut client = connect(primary);
            tasks.spawn(report(inputs, granted, ordered, async move {
                if let Err(error) = client.set_synchronous(&members).await {
                    return failed(primary, ActionKind::SetSync, error);
                }
                // Where the primary was once the set took effect.
                match client.probe().await {
                    Ok(facts) => ActionResult::SyncSet {
                        members,
                        position: facts.position.unwrap_or(0),
                    },
                    Err(failure) => failed(primary, ActionKind::SetSync, failure),
                }
            }));
        }
        ClusterAction::Adopt { node } => {
            let mut client = connect(node);
            tasks.spawn(report(inputs, granted, ordered, async move {
                match client.adopt().await {
                    Ok(()) => ActionResult::Adopted { node },
                    Err(error) => failed(node, ActionKind::Adopt, error),
                }
            }));
        }
        ClusterAction::Rejoin { node, primary } => {
            let command = cluster.rejoin_command.clone();
            let (target, upstream) = (cluster.nodes[node].clone(), cluster.nodes[primary].clone());
            let driver = Arc::clone(driver);
            tasks.spawn(report(inputs, granted, ordered, async move {
                match driver
                    .rejoin(command.as_deref(), &target, &upstream, REJOIN_WAIT)
                    .await
                {
                    Ok(()) => ActionResult::Rejoined { node },
                    Err(error) => failed(node, ActionKind::Rejoin, error),
                }
            }));
        }
    }
}

/// Checks one node forever, at once first, then paced like every monitor's target (see
/// [`Pace`]): every interval, a quarter of it while a changed result awaits its confirmations,
/// jittered; and at once when asked.
pub(super) async fn probe_loop(
    node: NodeId,
    mut client: Box<dyn NodeDriver>,
    cadence: Cadence,
    inputs: mpsc::Sender<ClusterInput>,
    check_now: Arc<Notify>,
) {
    let mut pace = Pace::default();
    loop {
        let started = Instant::now();
        let at = Timestamp::now();
        let outcome = client.probe().await.map(Box::new);
        let next = jittered(
            pace.next_interval(outcome.is_ok(), &cadence),
            fastrand::f64(),
        );
        let input = ClusterInput::Checked {
            node,
            at,
            latency: started.elapsed(),
            outcome,
        };
        if inputs.send(input).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(next.saturating_sub(started.elapsed())) => {}
            () = check_now.notified() => {}
            // A node killed outright is checked at once, not up to an interval later; never
            // sooner than a moment after the last check, should a node close every connection.
            () = async {
                client.connection_lost().await;
                tokio::time::sleep(LOST_RECHECK.saturating_sub(started.elapsed())).await;
            } => {}
        }
    }
}

fn failed(node: NodeId, action: ActionKind, error: impl std::fmt::Display) -> ActionResult {
    ActionResult::Failed {
        node,
        action,
        error: error.to_string(),
    }
}

async fn report(
    inputs: mpsc::Sender<ClusterInput>,
    granted: Granted,
    (node, action): (NodeId, ActionKind),
    work: impl Future<Output = ActionResult>,
) {
    let result = match granted.await {
        Ok(Ok(())) => work.await,
        Ok(Err(why)) => failed(
            node,
            action,
            format!("not done: the leadership it was ordered under no longer holds ({why})"),
        ),
        Err(_) => failed(node, action, "not done: the state recorder stopped"),
    };
    if inputs.send(ClusterInput::Done(result)).await.is_err() {
        tracing::debug!("cluster manager stopped before an action reported");
    }
}

/// Probes the switchover target until it has received the old primary's last position.
async fn catch_up(client: &mut dyn NodeDriver, node: NodeId, position: u64) -> ActionResult {
    let started = Instant::now();
    loop {
        if let Ok(facts) = client.probe().await
            && facts.position.is_some_and(|received| received >= position)
        {
            return ActionResult::CaughtUp { node };
        }
        if started.elapsed() > CATCH_UP_WAIT {
            return failed(
                node,
                ActionKind::CatchUp,
                format!("did not receive up to position {position} within {CATCH_UP_WAIT:?}"),
            );
        }
        tokio::time::sleep(CATCH_UP_POLL).await;
    }
}
