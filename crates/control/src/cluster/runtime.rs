//! One cluster's loop: a prober per node feeds [`decide`]; actions run as tasks at the edges
//! (through the cluster's driver, see `edges`) and report back as inputs. Each cluster decides
//! alone, so a slow promotion never delays another cluster or the HTTP load balancers.
//!
//! Every instance runs this loop and routes; only the leader acts. Its record is written
//! guarded by its leadership, and each action waits for a guarded write of the record, so an
//! action ordered under a leadership that no longer holds is never done. Followers route by the
//! leader's record, watched in the store.

use std::sync::Arc;

use arc_swap::ArcSwap;
use lifeline_model::{Cadence, Cluster, ClusterDriver, NewEvent, Timestamp};
use lifeline_store::{Leadership, Role, StateStore, StoreError};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::edges::{self, probe_loop};
use super::metrics::ClusterMetrics;
use super::status::ClusterStatus;
use super::{
    ClusterAction, ClusterInput, ClusterRecord, ClusterState, NodeId, OperationError, Plan, decide,
    plan_request,
};
use crate::recorder::{Granted, Recorder};

mod follow;
mod handle;

use handle::Command;
pub use handle::{ClusterHandle, ClusterRoutes, RetireCheck};

/// What the manager does with a command.
enum Handled {
    Input(Box<ClusterInput>),
    Done,
    Retire(oneshot::Sender<Result<(), String>>),
}

/// The record as stored when a leadership began, with that leadership's fencing token.
type Claim = (u64, ClusterRecord);

pub struct ClusterManager {
    state: ClusterState,
    /// Every check and action on the nodes goes through it.
    driver: Arc<dyn ClusterDriver>,
    store: Arc<dyn StateStore>,
    store_key: String,
    recorder: Recorder,
    role: Role,
    /// The leadership this manager acts under, once it has read the record as stored then.
    leadership: Option<Leadership>,
    /// Records read for a new leadership, by its fencing token.
    claims: (mpsc::Sender<Claim>, mpsc::Receiver<Claim>),
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
    /// Resumes `cluster` from what an earlier run stored; its nodes are reached through
    /// `driver`, the driver of its kind. It acts while `role` says this instance leads.
    pub async fn start(
        cluster: Arc<Cluster>,
        driver: Arc<dyn ClusterDriver>,
        store: Arc<dyn StateStore>,
        metrics: ClusterMetrics,
        role: Role,
    ) -> Result<(Self, ClusterHandle), StoreError> {
        let store_key = format!("clusters/{}", cluster.name);
        let record = follow::read_record(store.as_ref(), &store_key)
            .await?
            .map_or_else(ClusterRecord::default, |(record, _)| record);
        let mut state = ClusterState::new(cluster.clone(), record);
        let leadership = role.borrow().clone().filter(|l| !l.is_lost());
        if leadership.is_none() {
            decide(
                &mut state,
                ClusterInput::Role {
                    leading: false,
                    record: None,
                },
                Timestamp::now(),
            );
        }
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
            driver,
            recorder: Recorder::spawn(store.clone()),
            store,
            store_key,
            role,
            leadership,
            claims: mpsc::channel(1),
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
        let cluster = self.state.cluster();
        let cadence = Cadence {
            interval: cluster.check_interval,
            rise: cluster.rise,
            fall: cluster.failure_threshold,
        };
        for node in self.state.ids() {
            probers.spawn(probe_loop(
                node,
                self.driver
                    .connect(&cluster.nodes[node], cluster.check_interval),
                cadence,
                self.inputs.0.clone(),
                self.check_now.clone(),
            ));
        }
        probers.spawn(follow::records(
            self.store.clone(),
            self.store_key.clone(),
            self.inputs.0.clone(),
        ));
        let mut actions = JoinSet::new();
        let mut role_open = true;
        let retired = loop {
            let input = tokio::select! {
                biased;
                () = &mut shutdown => break None,
                changed = self.role.changed(), if role_open => {
                    role_open = changed.is_ok();
                    match self.role_changed(&mut probers) {
                        Some(input) => input,
                        None => continue,
                    }
                }
                Some((token, record)) = self.claims.1.recv() => {
                    // Only if that leadership still holds: it may have ended while reading.
                    if self.leadership.as_ref().is_none_or(|l| l.fencing_token != token || l.is_lost()) {
                        continue;
                    }
                    ClusterInput::Role { leading: true, record: Some(record) }
                }
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
            if self.state.all_checked() {
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

    /// Follows the campaign: a lost leadership makes this manager a follower at once; a new
    /// one makes it the leader once the record is read as stored then (see `claims`).
    fn role_changed(&mut self, tasks: &mut JoinSet<()>) -> Option<ClusterInput> {
        let now = self
            .role
            .borrow_and_update()
            .clone()
            .filter(|l| !l.is_lost());
        let same = |a: &Option<Leadership>, b: &Option<Leadership>| {
            a.as_ref().map(|l| l.fencing_token) == b.as_ref().map(|l| l.fencing_token)
        };
        if same(&self.leadership, &now) {
            return None;
        }
        let was_leading = self.state.leading();
        self.leadership = now.clone();
        if let Some(leadership) = now {
            tasks.spawn(follow::claim(
                self.store.clone(),
                self.store_key.clone(),
                leadership,
                self.claims.0.clone(),
            ));
        }
        was_leading.then_some(ClusterInput::Role {
            leading: false,
            record: None,
        })
    }

    fn command(&mut self, command: Command) -> Handled {
        let (target, force, switchover_only, reply) = match command {
            Command::Isolate(isolated) => {
                return Handled::Input(Box::new(ClusterInput::Isolated(isolated)));
            }
            Command::Request { reply, .. } if !self.state.leading() => {
                if reply.send(Err(OperationError::NotLeader)).is_err() {
                    tracing::debug!("failover requester went away");
                }
                return Handled::Done;
            }
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
                    Plan::Failover { .. } if switchover_only => Err(OperationError::Refused(
                        "the primary is not healthy: use `lifeline failover`".to_string(),
                    )),
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
                why.to_string(),
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
        match action {
            ClusterAction::Record(event) => {
                tracing::info!(kind = event.kind.as_str(), subject = %event.subject, reason = %event.reason, "event");
                self.recorder.record(event);
            }
            ClusterAction::Persist(record) => match (&self.leadership, serde_json::to_vec(&record))
            {
                (Some(leadership), Ok(value)) => {
                    self.recorder
                        .put_guarded(leadership.clone(), self.store_key.clone(), value);
                }
                (None, _) => tracing::warn!("a follower does not store the cluster's record"),
                (_, Err(error)) => tracing::error!(%error, "cannot encode the cluster record"),
            },
            ClusterAction::Route { writer, readers } => {
                let endpoint = |node: NodeId| {
                    let node = &cluster.nodes[node];
                    (node.name.clone(), node.address())
                };
                self.routes.send_replace(ClusterRoutes {
                    writer: writer.map(endpoint),
                    readers: readers.into_iter().map(endpoint).collect(),
                });
            }
            action => {
                let granted = self.grant();
                edges::spawn(
                    action,
                    granted,
                    &cluster,
                    &self.driver,
                    self.inputs.0.clone(),
                    tasks,
                );
            }
        }
    }

    /// Whether an action may run: a guarded write of the record as it is now, after every
    /// write before it.
    fn grant(&self) -> Granted {
        let refused = |why: String| {
            let (reply, granted) = oneshot::channel();
            if reply.send(Err(why)).is_err() {
                tracing::debug!("nobody waits for the refusal");
            }
            granted
        };
        let Some(leadership) = &self.leadership else {
            return refused("this instance does not lead".to_string());
        };
        match serde_json::to_vec(self.state.record()) {
            Ok(value) => self
                .recorder
                .grant(leadership.clone(), self.store_key.clone(), value),
            Err(error) => refused(format!("cannot encode the cluster record: {error}")),
        }
    }
}
