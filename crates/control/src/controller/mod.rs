//! The controller loop: receives inputs, decides, and carries out the actions.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{
    Ejection, Health, Observation, OriginName, RoutingTable, StatusSnapshot, Timestamp, Topology,
};
use lifeline_store::{Role, StateStore, leading_token};
use tokio::sync::{mpsc, oneshot, watch};

mod handle;
mod overrides;
mod publish;
mod shared;

use handle::Command;
pub use handle::{ControllerHandle, Heartbeat};
pub use overrides::load_overrides;
use shared::Shared;
pub use shared::Sharing;

use crate::decide::{
    Action, Input, OVERRIDES_PREFIX, Overrides, State, check_drain, check_force, decide,
};
use crate::metrics::{Metrics, OriginHandles};
use crate::recorder::Recorder;

/// How often the status snapshot is refreshed when only check times changed (and how often the
/// heartbeat beats). Health changes are published at once.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(500);

/// The one writer of state. Build with [`Controller::new`], then [`Controller::run`] it.
pub struct Controller {
    state: State,
    started_at: Timestamp,
    observations: mpsc::Receiver<Observation>,
    ejections: mpsc::Receiver<Ejection>,
    commands: mpsc::Receiver<Command>,
    status: Arc<ArcSwap<StatusSnapshot>>,
    routing: watch::Sender<Arc<RoutingTable>>,
    generation: u64,
    heartbeat: Arc<Heartbeat>,
    metrics: Metrics,
    /// Each origin's metric series, rebuilt with the topology.
    origin_metrics: HashMap<OriginName, OriginHandles>,
    store: Arc<dyn StateStore>,
    recorder: Recorder,
    /// Origins' and pools' changes are recorded only while this instance leads, so the shared
    /// log holds one instance's account of them, not one per instance.
    role: Role,
    /// This instance's override writes: how many are still being written, and the newest
    /// version written. A stored snapshot older than them would undo them for a moment.
    own_writes: (mpsc::UnboundedSender<u64>, mpsc::UnboundedReceiver<u64>),
    writing: usize,
    written: u64,
    /// Set when origins' health is shared among several instances.
    shared: Option<Shared>,
}

impl Controller {
    /// A controller for `topology`, starting from the `overrides` an earlier run stored (see
    /// [`load_overrides`]). Observations come from the monitors, ejections from the data plane;
    /// what they change is recorded while `role` says this instance leads.
    pub fn new(
        topology: Arc<Topology>,
        mut overrides: Overrides,
        store: Arc<dyn StateStore>,
        metrics: Metrics,
        observations: mpsc::Receiver<Observation>,
        ejections: mpsc::Receiver<Ejection>,
        role: Role,
    ) -> (Self, ControllerHandle) {
        let started_at = Timestamp::now();
        let recorder = Recorder::spawn(store.clone());
        for key in overrides.retain_valid(&topology) {
            tracing::warn!(
                key,
                "dropping a stored override that names something the config no longer has"
            );
            recorder.put(key, None);
        }
        let state = State::new(topology, overrides);
        let status = Arc::new(ArcSwap::from_pointee(
            state.snapshot(started_at, started_at),
        ));
        let (routing, routing_rx) = watch::channel(Arc::new(state.routing(0)));
        let heartbeat = Arc::new(Heartbeat::default());
        heartbeat.beat(started_at);
        let (command_tx, commands) = mpsc::channel(16);
        let handle = ControllerHandle {
            status: status.clone(),
            routing: routing_rx,
            heartbeat: heartbeat.clone(),
            commands: command_tx,
        };
        let mut controller = Self {
            state,
            started_at,
            observations,
            ejections,
            commands,
            status,
            routing,
            generation: 0,
            heartbeat,
            metrics,
            origin_metrics: HashMap::new(),
            store,
            recorder,
            role,
            own_writes: mpsc::unbounded_channel(),
            writing: 0,
            written: 0,
            shared: None,
        };
        controller.rebuild_metrics();
        (controller, handle)
    }

    /// Shares origins' health with the other instances on the store: the leader decides each
    /// origin's health from every instance's view, and every instance routes by its decisions.
    pub fn share_health(mut self, sharing: Sharing) -> Self {
        self.state.share_health();
        self.shared = Some(Shared::start(sharing, &self.store));
        self
    }

    /// Runs until `shutdown` resolves or every input channel closes, then writes out the events
    /// still pending.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut publish = tokio::time::interval(PUBLISH_INTERVAL);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = false;
        // Drains and pins made through any instance sharing the store.
        let mut stored = lifeline_store::follow(self.store.clone(), OVERRIDES_PREFIX);
        // With shared health: the other instances' views and the leader's decisions.
        let [mut views, mut decisions] = Shared::followed().map(|prefix| {
            self.shared
                .is_some()
                .then(|| lifeline_store::follow(self.store.clone(), prefix))
        });
        let mut role = self.role.clone();
        let mut role_open = true;
        // Leading from the start: decide at once.
        if self.decide_shared(false) {
            self.publish();
        }
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                // Before snapshots: one that follows an own write must find it counted.
                Some(version) = self.own_writes.1.recv() => {
                    self.writing = self.writing.saturating_sub(1);
                    self.written = self.written.max(version);
                }
                Some(snapshot) = stored.recv() => {
                    if self.stored_overrides(&snapshot) {
                        self.publish();
                    }
                }
                Some(snapshot) = next(&mut views) => {
                    if self.stored_views(&snapshot) {
                        self.publish();
                    }
                }
                Some(snapshot) = next(&mut decisions) => {
                    if self.stored_decisions(&snapshot) {
                        self.publish();
                    }
                }
                // A new leader decides every origin from the views at once.
                changed = role.changed(), if role_open => {
                    role_open = changed.is_ok();
                    if self.role_changed() {
                        self.publish();
                    }
                }
                Some(command) = self.commands.recv() => {
                    self.command(command);
                    self.publish();
                }
                Some(ejection) = self.ejections.recv() => {
                    if self.ejection(ejection) {
                        self.publish();
                    }
                }
                Some(observation) = self.observations.recv() => {
                    if self.observation(observation) {
                        self.publish();
                    } else {
                        dirty = true;
                    }
                }
                _ = publish.tick() => {
                    self.heartbeat.beat(Timestamp::now());
                    if std::mem::take(&mut dirty) {
                        self.publish();
                    }
                }
                else => break,
            }
        }
        self.publish();
        self.recorder.flush().await;
    }

    /// Returns whether any health changed.
    fn observation(&mut self, observation: Observation) -> bool {
        let Some(pool) = self.state.pool_index_of(observation.origin.as_str()) else {
            return false;
        };
        let origin = observation.origin.clone();
        if let Some(handles) = self.origin_metrics.get(&origin) {
            self.metrics.checked(handles, &observation);
        }
        let actions = decide(
            &mut self.state,
            Input::Observation(observation),
            Timestamp::now(),
        );
        if let Some(handles) = self.origin_metrics.get(&origin) {
            let health = self.state.health_of(origin.as_str());
            handles.set_healthy(health == Some(Health::Healthy));
        }
        if actions.is_empty() {
            return false;
        }
        self.metrics.refresh_pool(&self.state, pool);
        self.carry_out_seen(actions);
        true
    }

    /// Returns whether the origin was taken out (or, sharing health, its view changed).
    fn ejection(&mut self, ejection: Ejection) -> bool {
        let origin = ejection.origin.clone();
        self.about_origin(&origin, Input::Ejection(ejection), Timestamp::now())
    }

    /// Decides an input about one origin, keeps its metrics and its pool's current and carries
    /// out what it changed. Returns whether anything did.
    fn about_origin(&mut self, origin: &OriginName, input: Input, now: Timestamp) -> bool {
        self.about_origins(std::slice::from_ref(origin), input, now)
    }

    /// [`about_origin`](Self::about_origin) for an input about several origins at once.
    fn about_origins(&mut self, origins: &[OriginName], input: Input, now: Timestamp) -> bool {
        let actions = decide(&mut self.state, input, now);
        if actions.is_empty() {
            return false;
        }
        let mut pools = BTreeSet::new();
        for origin in origins {
            if let Some(handles) = self.origin_metrics.get(origin) {
                handles.set_healthy(self.state.health_of(origin.as_str()) == Some(Health::Healthy));
            }
            pools.extend(self.state.pool_index_of(origin.as_str()));
        }
        for pool in pools {
            self.metrics.refresh_pool(&self.state, pool);
        }
        self.carry_out_seen(actions);
        true
    }

    /// What a check or live traffic changed: a follower routes by it and records none of it.
    fn carry_out_seen(&mut self, mut actions: Vec<Action>) {
        if !self.leading() {
            actions.retain(|action| !matches!(action, Action::Record(_)));
        }
        self.carry_out(actions);
    }

    fn leading(&self) -> bool {
        leading_token(&self.role).is_some()
    }

    fn command(&mut self, command: Command) {
        let now = Timestamp::now();
        match command {
            Command::Reload { topology, done } => {
                let actions = decide(&mut self.state, Input::Reload(topology), now);
                self.rebuild_metrics();
                self.carry_out(actions);
                // Origins came or went: the shared view follows, and the leader decides the new
                // ones (a follower takes up what it stored for them).
                self.share_view();
                self.role_changed();
                answer(done, ());
            }
            Command::Force {
                load_balancer,
                target,
                done,
            } => {
                let checked = check_force(self.state.topology(), &load_balancer, target.as_ref());
                if checked.is_ok() {
                    let actions = decide(
                        &mut self.state,
                        Input::Force {
                            load_balancer,
                            target,
                        },
                        now,
                    );
                    self.carry_out(actions);
                }
                answer(done, checked);
            }
            Command::Drain {
                origin,
                draining,
                done,
            } => {
                let checked = check_drain(self.state.topology(), &origin);
                if checked.is_ok() {
                    let actions = decide(&mut self.state, Input::Drain { origin, draining }, now);
                    self.carry_out(actions);
                }
                answer(done, checked);
            }
            Command::WithoutStore(lost) => {
                self.store_lost(lost);
            }
        }
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Persist { key, value } => {
                    self.writing += 1;
                    self.recorder
                        .put_reporting(key, value, self.own_writes.0.clone());
                }
                Action::ShareView => self.share_view(),
                Action::PublishRouting => {
                    self.generation += 1;
                    self.routing
                        .send_replace(Arc::new(self.state.routing(self.generation)));
                }
                Action::Record(event) => {
                    tracing::info!(
                        kind = event.kind.as_str(),
                        subject = %event.subject,
                        old = event.old.as_deref().unwrap_or("-"),
                        new = event.new.as_deref().unwrap_or("-"),
                        reason = %event.reason,
                        "event"
                    );
                    self.metrics.recorded(event.kind);
                    self.recorder.record(event);
                }
            }
        }
    }

    fn rebuild_metrics(&mut self) {
        self.metrics.rebuild(&self.state);
        self.origin_metrics = self
            .state
            .topology()
            .origins()
            .map(|(pool, origin)| {
                let handles = self.metrics.origin_handles(&pool.name, &origin.name);
                (origin.name.clone(), handles)
            })
            .collect();
    }

    /// Publishes the status for readers (the routing table is published as an action).
    fn publish(&self) {
        let snapshot = self.state.snapshot(self.started_at, Timestamp::now());
        self.status.store(Arc::new(snapshot));
    }
}

/// The next item of a followed prefix; never, when nothing is followed.
async fn next<T>(followed: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match followed {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn answer<T>(done: oneshot::Sender<T>, value: T) {
    if done.send(value).is_err() {
        tracing::debug!("requester went away before the answer");
    }
}
