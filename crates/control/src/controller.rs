//! The controller loop: receives inputs, decides, and carries out the actions.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{Health, Observation, StatusSnapshot, Timestamp, Topology};
use lifeline_store::StateStore;
use tokio::sync::{mpsc, oneshot};

use crate::decide::{Action, Input, State, decide};
use crate::metrics::Metrics;
use crate::recorder::Recorder;

/// How often the status snapshot is refreshed when only check times changed. Health changes are
/// published at once.
const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// What other parts of the daemon ask of the controller.
#[derive(Debug)]
pub enum Command {
    /// Switch to a new, validated topology; answered once the controller uses it.
    Reload {
        topology: Arc<Topology>,
        done: oneshot::Sender<()>,
    },
}

/// When the controller loop last ran, so `GET /health` can tell a stuck controller.
#[derive(Debug, Default)]
pub struct Heartbeat(AtomicU64);

impl Heartbeat {
    fn beat(&self, now: Timestamp) {
        self.0.store(now.as_millis(), Ordering::Relaxed);
    }

    pub fn last(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::Relaxed))
    }
}

/// What the rest of the daemon holds of a running controller.
#[derive(Clone)]
pub struct ControllerHandle {
    /// The latest status; readers `load()` it without locks.
    pub status: Arc<ArcSwap<StatusSnapshot>>,
    pub heartbeat: Arc<Heartbeat>,
    commands: mpsc::Sender<Command>,
}

impl ControllerHandle {
    /// Hands a new topology to the controller and waits until it is in use. Returns false if the
    /// controller has stopped.
    pub async fn reload(&self, topology: Arc<Topology>) -> bool {
        let (done, applied) = oneshot::channel();
        self.commands
            .send(Command::Reload { topology, done })
            .await
            .is_ok()
            && applied.await.is_ok()
    }
}

/// The one writer of state. Build with [`Controller::new`], then [`Controller::run`] it.
pub struct Controller {
    state: State,
    started_at: Timestamp,
    observations: mpsc::Receiver<Observation>,
    commands: mpsc::Receiver<Command>,
    status: Arc<ArcSwap<StatusSnapshot>>,
    heartbeat: Arc<Heartbeat>,
    metrics: Metrics,
    recorder: Recorder,
}

impl Controller {
    pub fn new(
        topology: Arc<Topology>,
        store: Arc<dyn StateStore>,
        metrics: Metrics,
        observations: mpsc::Receiver<Observation>,
    ) -> (Self, ControllerHandle) {
        let started_at = Timestamp::now();
        let state = State::new(topology);
        metrics.rebuild(&state);
        let status = Arc::new(ArcSwap::from_pointee(
            state.snapshot(started_at, started_at),
        ));
        let heartbeat = Arc::new(Heartbeat::default());
        heartbeat.beat(started_at);
        let (command_tx, commands) = mpsc::channel(16);
        let handle = ControllerHandle {
            status: status.clone(),
            heartbeat: heartbeat.clone(),
            commands: command_tx,
        };
        let controller = Self {
            state,
            started_at,
            observations,
            commands,
            status,
            heartbeat,
            metrics,
            recorder: Recorder::spawn(store),
        };
        (controller, handle)
    }

    /// Runs until `shutdown` resolves or every input channel closes, then writes out the events
    /// still pending.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut publish = tokio::time::interval(PUBLISH_INTERVAL);
        publish.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut dirty = false;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(command) = self.commands.recv() => {
                    self.command(command);
                    self.publish();
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
        let pool_name = self.state.topology().pools[pool].name.clone();
        let origin = observation.origin.clone();
        let now = Timestamp::now();
        let actions = decide(
            &mut self.state,
            Input::Observation(observation.clone()),
            now,
        );
        let healthy = self.state.origin(origin.as_str()).map(|h| h.health) == Some(Health::Healthy);
        self.metrics.observed(&pool_name, &observation, healthy);
        if actions.is_empty() {
            return false;
        }
        self.metrics.refresh_pool(&self.state, pool);
        self.carry_out(actions);
        true
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Reload { topology, done } => {
                let actions = decide(&mut self.state, Input::Reload(topology), Timestamp::now());
                self.metrics.rebuild(&self.state);
                self.carry_out(actions);
                if done.send(()).is_err() {
                    tracing::debug!("reload requester went away before the reload was applied");
                }
            }
        }
    }

    fn carry_out(&self, actions: Vec<Action>) {
        for action in actions {
            match action {
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

    fn publish(&self) {
        let snapshot = self.state.snapshot(self.started_at, Timestamp::now());
        self.status.store(Arc::new(snapshot));
    }
}
