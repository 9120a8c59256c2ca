//! `lifeline run` and `lifeline check`: wiring only. The parts (config, store, monitors,
//! controller, admin API) live in their own crates; this module starts them in order, routes
//! reloads and signals between them, and stops them cleanly.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use lifeline_admin::{AdminCommand, AdminState, ReloadOutcome};
use lifeline_config::ProcessEnv;
use lifeline_control::{Controller, ControllerHandle, Metrics, load_overrides};
use lifeline_health::Scheduler;
use lifeline_model::{EventKind, NewEvent, Timestamp, Topology};
use lifeline_store::{EmbeddedStore, StateStore};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

/// Observations waiting for the controller; a full queue makes monitors wait, never drop.
const OBSERVATION_QUEUE: usize = 4096;
/// Ejections from the data plane waiting for the controller; the data plane never waits: when
/// this is full it drops (and counts) the ejection, and the monitor still catches the origin.
const EJECTION_QUEUE: usize = 1024;

pub fn check(path: &Path) -> ExitCode {
    match lifeline_config::load(path, &ProcessEnv) {
        Ok(topology) => {
            println!(
                "{}: ok ({} monitors, {} pools, {} origins)",
                path.display(),
                topology.monitors.len(),
                topology.pools.len(),
                topology.origins().count()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            ExitCode::from(2)
        }
    }
}

pub async fn run(path: &Path) -> ExitCode {
    // Nothing is opened or bound before the whole file is known to be good.
    let topology = match lifeline_config::load(path, &ProcessEnv) {
        Ok(topology) => Arc::new(topology),
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::from(2);
        }
    };
    match serve(path, topology).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(1)
        }
    }
}

async fn serve(path: &Path, topology: Arc<Topology>) -> anyhow::Result<()> {
    let store: Arc<dyn StateStore> = Arc::new(
        EmbeddedStore::open(&topology.admin.state_file).context("cannot open the state store")?,
    );
    let listener = tokio::net::TcpListener::bind(topology.admin.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the admin API",
                topology.admin.listen
            )
        })?;
    let mut hangups = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
    let mut terminations = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut interrupts = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;

    let leadership = store.campaign(&instance_name()).await?;
    store
        .append(NewEvent::new(
            Timestamp::now(),
            EventKind::DaemonStarted,
            "daemon",
            format!(
                "config {}: {} pools, {} origins; fencing token {}",
                path.display(),
                topology.pools.len(),
                topology.origins().count(),
                leadership.fencing_token
            ),
        ))
        .await?;

    let overrides = load_overrides(store.as_ref())
        .await
        .context("cannot read the stored overrides")?;
    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (observations_tx, observations) = mpsc::channel(OBSERVATION_QUEUE);
    let (_ejections_tx, ejections) = mpsc::channel(EJECTION_QUEUE);
    let (controller, handle) = Controller::new(
        topology.clone(),
        overrides,
        store.clone(),
        metrics,
        observations,
        ejections,
    );
    let (stop_tx, stop) = watch::channel(false);
    let controller_task = tokio::spawn(controller.run(stopped(stop.clone())));
    let mut scheduler = Scheduler::start(&topology, observations_tx.clone());

    let (commands_tx, mut commands) = mpsc::channel(8);
    let running = Arc::new(ArcSwap::new(topology.clone()));
    let admin = AdminState {
        controller: handle.clone(),
        store: store.clone(),
        registry: Arc::new(registry),
        topology: running.clone(),
        commands: commands_tx,
    };
    let admin_task = tokio::spawn(lifeline_admin::serve(
        listener,
        admin,
        stopped(stop.clone()),
    ));
    tracing::info!(
        admin = %topology.admin.listen,
        pools = topology.pools.len(),
        origins = topology.origins().count(),
        "lifeline running"
    );

    let mut reloader = Reloader {
        path,
        running: &running,
        controller: &handle,
        store: &store,
    };
    let signal_name = loop {
        tokio::select! {
            _ = terminations.recv() => break "SIGTERM",
            _ = interrupts.recv() => break "SIGINT",
            _ = hangups.recv() => {
                let outcome = reloader.reload(&mut scheduler, &observations_tx).await;
                log_outcome("SIGHUP", &outcome);
            }
            Some(command) = commands.recv() => match command {
                AdminCommand::Reload { reply } => {
                    let outcome = reloader.reload(&mut scheduler, &observations_tx).await;
                    log_outcome("admin API", &outcome);
                    if reply.send(outcome).is_err() {
                        tracing::debug!("reload requester went away");
                    }
                }
            },
        }
    };

    tracing::info!(signal = signal_name, "shutting down");
    scheduler.stop();
    if stop_tx.send(true).is_err() {
        tracing::debug!("every task had already stopped");
    }
    controller_task.await.context("the controller failed")?;
    admin_task
        .await
        .context("the admin API failed")?
        .context("the admin API failed")?;
    store
        .append(NewEvent::new(
            Timestamp::now(),
            EventKind::DaemonStopped,
            "daemon",
            format!("{signal_name} received"),
        ))
        .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Re-reads the config file and, if it is good, switches everything over to it.
struct Reloader<'a> {
    path: &'a Path,
    running: &'a ArcSwap<Topology>,
    controller: &'a ControllerHandle,
    store: &'a Arc<dyn StateStore>,
}

impl Reloader<'_> {
    async fn reload(
        &mut self,
        scheduler: &mut Scheduler,
        observations: &mpsc::Sender<lifeline_model::Observation>,
    ) -> ReloadOutcome {
        let topology = match lifeline_config::load(self.path, &ProcessEnv) {
            Ok(topology) => Arc::new(topology),
            Err(diagnostics) => {
                let errors: Vec<String> =
                    diagnostics.to_string().lines().map(str::to_owned).collect();
                self.record(NewEvent::new(
                    Timestamp::now(),
                    EventKind::ConfigRejected,
                    self.path.display().to_string(),
                    format!("{} problems, first: {}", errors.len(), errors[0]),
                ))
                .await;
                return ReloadOutcome::Rejected { errors };
            }
        };
        let previous = self.running.load_full();
        let mut summary = format!(
            "{} monitors, {} pools, {} origins",
            topology.monitors.len(),
            topology.pools.len(),
            topology.origins().count()
        );
        if previous.admin.listen != topology.admin.listen
            || previous.admin.state_file != topology.admin.state_file
        {
            summary.push_str("; admin.listen and admin.state_file take effect at the next restart");
        }
        if !self.controller.reload(topology.clone()).await {
            return ReloadOutcome::Rejected {
                errors: vec!["the controller has stopped".into()],
            };
        }
        // The controller knows the new origins before their first observation arrives.
        std::mem::replace(scheduler, Scheduler::start(&topology, observations.clone())).stop();
        self.running.store(topology);
        ReloadOutcome::Applied { summary }
    }

    async fn record(&self, event: NewEvent) {
        if let Err(error) = self.store.append(event).await {
            tracing::error!(%error, "could not record event");
        }
    }
}

fn log_outcome(source: &str, outcome: &ReloadOutcome) {
    match outcome {
        ReloadOutcome::Applied { summary } => tracing::info!(source, %summary, "config reloaded"),
        ReloadOutcome::Rejected { errors } => {
            tracing::warn!(
                source,
                problems = errors.len(),
                "config rejected; the running config stays"
            );
            for error in errors {
                tracing::warn!("{error}");
            }
        }
    }
}

/// Resolves once the stop flag is raised (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        tracing::debug!("stop signal sender dropped");
    }
}

fn instance_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}
