//! One cluster's loop: a prober per node feeds [`decide`]; actions run as tasks at the edges
//! (through `lifeline-postgres`) and report back as inputs. Each cluster decides alone, so a
//! slow promotion never delays another cluster or the HTTP load balancers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use lifeline_model::{Cluster, NewEvent, NodeName, Timestamp};
use lifeline_postgres::{NodeClient, run_rejoin};
use lifeline_store::{StateStore, StoreError};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::adopt::ADOPT;
use super::metrics::ClusterMetrics;
use super::status::ClusterStatus;
use super::{
    ActionResult, ClusterAction, ClusterInput, ClusterRecord, ClusterState, Plan, decide,
    plan_request, sync_value,
};
use crate::recorder::Recorder;

/// After a failed check the next one comes this much sooner, so `failure_threshold` failures
/// take a fraction of `failure_threshold` intervals (HAProxy's `fastinter`).
const FAST_RECHECK_DIVISOR: u32 = 4;
/// How long a promotion may take.
const PROMOTE_WAIT: Duration = Duration::from_secs(10);
/// How long a switchover target may take to receive the old primary's last WAL.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
const REJOIN_WAIT: Duration = Duration::from_secs(300);

/// Where a cluster's endpoints send new connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterRoutes {
    /// The primary, or `None`: hold new writer connections.
    pub writer: Option<(NodeName, String)>,
    pub readers: Vec<(NodeName, String)>,
}

/// Whether a manager may stop for a reload, judged on its status at a quiet moment.
pub type RetireCheck = Box<dyn FnOnce(&ClusterStatus) -> Result<(), String> + Send>;

enum Command {
    Request {
        target: Option<NodeName>,
        force: bool,
        switchover_only: bool,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Retire {
        check: RetireCheck,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// What the manager does with a command.
enum Handled {
    Input(Box<ClusterInput>),
    Done,
    Retire(oneshot::Sender<Result<(), String>>),
}

/// What the rest of the daemon holds of a running cluster.
#[derive(Clone)]
pub struct ClusterHandle {
    pub name: lifeline_model::ClusterName,
    pub status: Arc<ArcSwap<ClusterStatus>>,
    pub routes: watch::Receiver<ClusterRoutes>,
    check_now: Arc<Notify>,
    commands: mpsc::Sender<Command>,
}

impl ClusterHandle {
    /// `lifeline failover`: promote `target` (or the best standby). With a healthy primary this
    /// is a switchover. `force` skips the data-loss checks. `Ok` says what started.
    pub async fn failover(&self, target: Option<NodeName>, force: bool) -> Result<String, String> {
        self.request(target, force, false).await
    }

    /// `lifeline switchover`: only with a healthy primary.
    pub async fn switchover(&self, target: Option<NodeName>) -> Result<String, String> {
        self.request(target, false, true).await
    }

    /// Checks every node now instead of at its next interval.
    pub fn check_now(&self) {
        self.check_now.notify_waiters();
    }

    /// Stops the manager between two decisions, when no failover, switchover, unfence or
    /// rejoin runs and `check` accepts its status then; its endpoints keep the last route.
    /// `Ok` once it has stopped, its actions ended and its writes are stored (so that a
    /// successor resumes from them), or if it had already stopped.
    pub async fn retire(&self, check: RetireCheck) -> Result<(), String> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(Command::Retire { check, reply })
            .await
            .is_err()
        {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    async fn request(
        &self,
        target: Option<NodeName>,
        force: bool,
        switchover_only: bool,
    ) -> Result<String, String> {
        let (reply, answer) = oneshot::channel();
        let stopped = || "the cluster manager has stopped".to_string();
        self.commands
            .send(Command::Request {
                target,
                force,
                switchover_only,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

pub struct ClusterManager {
    state: ClusterState,
    store_key: String,
    recorder: Recorder,
    metrics: ClusterMetrics,
    status: Arc<ArcSwap<ClusterStatus>>,
    routes: watch::Sender<ClusterRoutes>,
    check_now: Arc<Notify>,
    commands: mpsc::Receiver<Command>,
    inputs: (mpsc::Sender<ClusterInput>, mpsc::Receiver<ClusterInput>),
    failovers: u64,
    last_failover: Option<Timestamp>,
}

impl ClusterManager {
    /// Resumes `cluster` from what an earlier run stored.
    pub async fn start(
        cluster: Arc<Cluster>,
        store: Arc<dyn StateStore>,
        metrics: ClusterMetrics,
    ) -> Result<(Self, ClusterHandle), StoreError> {
        let store_key = format!("clusters/{}", cluster.name);
        let record = match store.get(&store_key).await? {
            Some(stored) => serde_json::from_slice(&stored.value).unwrap_or_else(|error| {
                tracing::error!(cluster = %cluster.name, %error, "stored cluster state unreadable; starting from the nodes alone");
                ClusterRecord::default()
            }),
            None => ClusterRecord::default(),
        };
        let state = ClusterState::new(cluster.clone(), record);
        let status = Arc::new(ArcSwap::from_pointee(ClusterStatus::of(&state, 0, None)));
        let (routes, routes_rx) = watch::channel(ClusterRoutes::default());
        let (commands_tx, commands) = mpsc::channel(8);
        let check_now = Arc::new(Notify::new());
        let handle = ClusterHandle {
            name: cluster.name.clone(),
            status: status.clone(),
            routes: routes_rx,
            check_now: check_now.clone(),
            commands: commands_tx,
        };
        let manager = Self {
            state,
            store_key,
            recorder: Recorder::spawn(store),
            metrics,
            status,
            routes,
            check_now,
            commands,
            inputs: mpsc::channel(256),
            failovers: 0,
            last_failover: None,
        };
        Ok((manager, handle))
    }

    /// Goes on counting failovers from a predecessor's status (a reload restarts a manager).
    pub fn carry_over(&mut self, previous: &ClusterStatus) {
        self.failovers = previous.failover_count;
        self.last_failover = previous.last_failover_time;
        self.publish_status();
    }

    fn publish_status(&self) {
        self.status.store(Arc::new(ClusterStatus::of(
            &self.state,
            self.failovers,
            self.last_failover,
        )));
    }

    pub async fn run(mut self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut probers = JoinSet::new();
        for (index, node) in self.state.cluster().nodes.iter().enumerate() {
            probers.spawn(probe_loop(
                index,
                NodeClient::new(node, self.state.cluster().check_interval),
                self.state.cluster().check_interval,
                self.inputs.0.clone(),
                self.check_now.clone(),
            ));
        }
        let mut actions = JoinSet::new();
        let retired = loop {
            let input = tokio::select! {
                biased;
                () = &mut shutdown => break None,
                Some(command) = self.commands.recv() => match self.command(command) {
                    Handled::Input(input) => *input,
                    Handled::Done => continue,
                    Handled::Retire(reply) => break Some(reply),
                },
                Some(input) = self.inputs.1.recv() => input,
                Some(joined) = actions.join_next(), if !actions.is_empty() => {
                    if let Err(error) = joined {
                        tracing::error!(%error, "cluster action task failed");
                    }
                    continue;
                }
            };
            if let ClusterInput::Checked {
                outcome: Err(_), ..
            } = &input
            {
                self.metrics.check_failed(self.state.cluster());
            }
            let now = Timestamp::now();
            for action in decide(&mut self.state, input, now) {
                if let ClusterAction::Record(event) = &action {
                    if matches!(
                        event.kind,
                        lifeline_model::EventKind::FailoverCompleted
                            | lifeline_model::EventKind::SwitchoverCompleted
                    ) {
                        self.failovers += 1;
                        self.last_failover = Some(now);
                        self.metrics.failed_over(self.state.cluster());
                    }
                    if event.kind == lifeline_model::EventKind::NodeUp {
                        self.metrics.recovered(self.state.cluster());
                    }
                }
                self.carry_out(action, &mut actions);
            }
            // Before every node answered once the gauges would say "down" for nodes merely
            // not checked yet (after a start or a reload).
            if self.state.nodes().iter().all(|n| n.last_check.is_some()) {
                self.metrics.observe(&self.state);
            }
            self.publish_status();
        };
        probers.abort_all();
        actions.abort_all();
        if retired.is_some() {
            // No action of this manager may still run when its successor starts.
            while actions.join_next().await.is_some() {}
            while probers.join_next().await.is_some() {}
        }
        self.recorder.flush().await;
        if let Some(reply) = retired
            && reply.send(Ok(())).is_err()
        {
            tracing::debug!("retire requester went away");
        }
    }

    fn command(&mut self, command: Command) -> Handled {
        let (target, force, switchover_only, reply) = match command {
            Command::Request {
                target,
                force,
                switchover_only,
                reply,
            } => (target, force, switchover_only, reply),
            Command::Retire { check, reply } => {
                let verdict = self.busy().map_or_else(
                    || check(&self.status.load()),
                    |why| Err(format!("{why}; reload again when it is done")),
                );
                return match verdict {
                    Ok(()) => Handled::Retire(reply),
                    Err(why) => {
                        if reply.send(Err(why)).is_err() {
                            tracing::debug!("retire requester went away");
                        }
                        Handled::Done
                    }
                };
            }
        };
        let planned =
            plan_request(&self.state, target.as_ref(), force, Timestamp::now()).and_then(|plan| {
                match plan {
                    Plan::Failover { .. } if switchover_only => {
                        Err("the primary is not healthy: use `lifeline failover`".to_string())
                    }
                    plan => Ok(plan),
                }
            });
        let answer = planned.clone().map(|plan| match plan {
            Plan::Failover { candidate } => {
                format!("failover to {} started", self.state.name(candidate))
            }
            Plan::Switchover { target } => {
                format!("switchover to {} started", self.state.name(target))
            }
        });
        if let Err(why) = &answer {
            self.recorder.record(NewEvent::new(
                Timestamp::now(),
                lifeline_model::EventKind::FailoverRefused,
                self.state.cluster().name.as_str(),
                why.clone(),
            ));
        }
        if reply.send(answer).is_err() {
            tracing::debug!("failover requester went away");
        }
        planned.ok().map_or(Handled::Done, |plan| {
            Handled::Input(Box::new(ClusterInput::Start(plan)))
        })
    }

    /// What would be cut short if the manager stopped now.
    fn busy(&self) -> Option<&'static str> {
        if self.state.in_progress() {
            Some("a failover or switchover is running")
        } else if !self.state.unfencing.is_empty() {
            Some("an old primary is being unfenced")
        } else if self.state.rejoins.iter().any(|r| r.finished.is_none()) {
            Some("the rejoin command is running")
        } else {
            None
        }
    }

    fn carry_out(&mut self, action: ClusterAction, tasks: &mut JoinSet<()>) {
        let cluster = self.state.cluster().clone();
        let inputs = self.inputs.0.clone();
        let timeout = cluster.check_interval.max(Duration::from_secs(2));
        let client = |node: usize| NodeClient::new(&cluster.nodes[node], timeout);
        match action {
            ClusterAction::Record(event) => {
                tracing::info!(kind = event.kind.as_str(), subject = %event.subject, reason = %event.reason, "event");
                self.recorder.record(event);
            }
            ClusterAction::Persist(record) => match serde_json::to_vec(&record) {
                Ok(value) => self.recorder.put(self.store_key.clone(), Some(value)),
                Err(error) => tracing::error!(%error, "cannot encode the cluster record"),
            },
            ClusterAction::Route { writer, readers } => {
                let endpoint = |node: usize| {
                    (
                        cluster.nodes[node].name.clone(),
                        cluster.nodes[node].dsn.address(),
                    )
                };
                self.routes.send_replace(ClusterRoutes {
                    writer: writer.map(endpoint),
                    readers: readers.into_iter().map(endpoint).collect(),
                });
            }
            ClusterAction::Promote { node } => {
                let mut client = client(node);
                tasks.spawn(report(inputs, async move {
                    match client.promote(PROMOTE_WAIT).await {
                        Ok(timeline) => ActionResult::Promoted { node, timeline },
                        Err(error) => failed(node, "promote", error),
                    }
                }));
            }
            ClusterAction::Fence { node } => {
                let mut client = client(node);
                tasks.spawn(report(inputs, async move {
                    match client.fence().await {
                        Ok(lsn) => ActionResult::Fenced { node, lsn },
                        Err(error) => failed(node, "fence", error),
                    }
                }));
            }
            ClusterAction::AwaitCatchUp { node, lsn } => {
                let mut client = client(node);
                tasks.spawn(report(inputs, async move {
                    catch_up(&mut client, node, lsn).await
                }));
            }
            ClusterAction::Follow { node, primary } => {
                let mut client = client(node);
                let upstream = cluster.nodes[primary].clone();
                let name = cluster.nodes[node].name.to_string();
                tasks.spawn(report(inputs, async move {
                    match client.follow(&upstream, &name).await {
                        Ok(()) => ActionResult::Followed { node },
                        Err(error) => failed(node, "re-point", error),
                    }
                }));
            }
            ClusterAction::Unfence { node } => {
                let mut client = client(node);
                tasks.spawn(report(inputs, async move {
                    match client.unfence().await {
                        Ok(()) => ActionResult::Unfenced { node },
                        Err(error) => failed(node, "unfence", error),
                    }
                }));
            }
            ClusterAction::SetSyncNames { primary, members } => {
                let mut client = client(primary);
                tasks.spawn(report(inputs, async move {
                    let applied = client
                        .set_synchronous_standby_names(&sync_value(&members))
                        .await;
                    match (applied, client.probe().await) {
                        (Ok(()), Ok(facts)) => ActionResult::SyncSet {
                            members,
                            lsn: facts.wal_lsn.unwrap_or(0),
                        },
                        (Err(error), _) => failed(primary, "set synchronous_standby_names", error),
                        (Ok(()), Err(failure)) => ActionResult::Failed {
                            node: primary,
                            action: "set synchronous_standby_names",
                            error: failure.to_string(),
                        },
                    }
                }));
            }
            ClusterAction::Adopt { node } => {
                let mut client = client(node);
                let name = cluster.nodes[node].name.to_string();
                tasks.spawn(report(inputs, async move {
                    match client.stream_as(&name).await {
                        Ok(()) => ActionResult::Adopted { node },
                        Err(error) => failed(node, ADOPT, error),
                    }
                }));
            }
            ClusterAction::Rejoin { node, primary } => {
                let Some(command) = cluster.rejoin_command.clone() else {
                    return;
                };
                let (target, upstream) =
                    (cluster.nodes[node].clone(), cluster.nodes[primary].clone());
                tasks.spawn(report(inputs, async move {
                    match run_rejoin(&command, &target, &upstream, REJOIN_WAIT).await {
                        Ok(()) => ActionResult::Rejoined { node },
                        Err(error) => failed(node, "rejoin", error),
                    }
                }));
            }
        }
    }
}

fn failed(node: usize, action: &'static str, error: impl std::fmt::Display) -> ActionResult {
    ActionResult::Failed {
        node,
        action,
        error: error.to_string(),
    }
}

async fn report(
    inputs: mpsc::Sender<ClusterInput>,
    action: impl std::future::Future<Output = ActionResult>,
) {
    let result = action.await;
    if inputs.send(ClusterInput::Done(result)).await.is_err() {
        tracing::debug!("cluster manager stopped before an action reported");
    }
}

/// Polls the switchover target until it has received the old primary's last WAL.
async fn catch_up(client: &mut NodeClient, node: usize, lsn: u64) -> ActionResult {
    let started = Instant::now();
    loop {
        if let Ok(facts) = client.probe().await
            && facts.wal_lsn.is_some_and(|received| received >= lsn)
        {
            return ActionResult::CaughtUp { node };
        }
        if started.elapsed() > CATCH_UP_WAIT {
            return ActionResult::Failed {
                node,
                action: "catch up",
                error: format!("did not receive WAL up to {lsn} within {CATCH_UP_WAIT:?}"),
            };
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Checks one node forever: every `interval`, sooner after a failure, at once when asked.
async fn probe_loop(
    node: usize,
    mut client: NodeClient,
    interval: Duration,
    inputs: mpsc::Sender<ClusterInput>,
    check_now: Arc<Notify>,
) {
    loop {
        let started = Instant::now();
        let at = Timestamp::now();
        let outcome = client.probe().await.map(Box::new);
        let next = if outcome.is_ok() {
            interval
        } else {
            interval / FAST_RECHECK_DIVISOR
        };
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
        }
    }
}
