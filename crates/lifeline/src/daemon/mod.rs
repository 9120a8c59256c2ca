//! `lifeline run` and `lifeline check`: wiring only. The parts (config, store, monitors,
//! controller, data plane, admin API) live in their own crates; this module starts them in order,
//! routes reloads and signals between them, and stops them cleanly.

mod clusters;
mod contact;
mod deliver;
mod instances;
mod leader;
mod listeners;
mod preflight;
mod reload;
mod store;

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use lifeline_admin::{AdminCommand, AdminState, PreflightResults};
use lifeline_config::{Diagnostic, Loaded, ProcessEnv};
use lifeline_control::alerts::AlertInputs;
use lifeline_control::cluster::ClusterMetrics;
use lifeline_control::escalation::{Escalation, EscalationInputs, EscalationMetrics};
use lifeline_control::{Controller, Metrics, Sharing, load_overrides};
use lifeline_health::Scheduler;
use lifeline_model::{EventKind, NewEvent, StoreBackend, Timestamp, Topology};
use lifeline_proxy_http::{DataPlane, ProxyMetrics};
use lifeline_proxy_tcp::TcpMetrics;
use lifeline_store::StateStore;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use self::clusters::Clusters;
use self::listeners::Listeners;
use self::reload::{Reloader, log_outcome};

/// Observations waiting for the controller; a full queue makes monitors wait, never drop.
const OBSERVATION_QUEUE: usize = 4096;
/// Ejections from the data plane waiting for the controller; the data plane never waits: when
/// this is full it drops (and counts) the ejection, and the monitor still catches the origin.
const EJECTION_QUEUE: usize = 1024;

pub fn check(path: &Path) -> ExitCode {
    match lifeline_config::load(path, &ProcessEnv) {
        Ok(Loaded { topology, warnings }) => {
            for warning in &warnings {
                eprintln!("{warning}");
            }
            println!(
                "{}: ok ({} monitors, {} pools, {} origins, {} load balancers)",
                path.display(),
                topology.monitors.len(),
                topology.pools.len(),
                topology.origins().count(),
                topology.load_balancers.len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            ExitCode::from(2)
        }
    }
}

/// Runs the daemon on the config file at `path`; `reset_state` starts with an empty store.
pub async fn run(path: &Path, reset_state: bool) -> ExitCode {
    // Nothing is opened or bound before the whole file is known to be good.
    let topology = match lifeline_config::load(path, &ProcessEnv) {
        Ok(loaded) => {
            log_warnings(&loaded.warnings);
            Arc::new(loaded.topology)
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::from(2);
        }
    };
    match serve(path, topology, reset_state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::from(1)
        }
    }
}

/// Logs what the config file deserves a warning for, at start and at each reload.
fn log_warnings(warnings: &[Diagnostic]) {
    for warning in warnings {
        tracing::warn!("{warning}");
    }
}

/// Raises the soft limit on open files to the hard one, as nginx (`worker_rlimit_nofile`),
/// HAProxy and Go's runtime do: the soft limit is often 1,024, which a busy load balancer (one
/// descriptor per client, one per origin connection) reaches long before the machine would.
fn raise_descriptor_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open file limit"),
        Err(error) => tracing::warn!(%error, "cannot raise the open file limit"),
    }
}

async fn serve(path: &Path, topology: Arc<Topology>, reset_state: bool) -> anyhow::Result<()> {
    raise_descriptor_limit();
    // Follower until a campaign wins: the first, tried at once, or the one beside serving.
    let (role_tx, role) = watch::channel(None);
    let store = store::open(&topology, reset_state, role.clone()).await?;
    let won = leader::first_campaign(store.as_ref(), &topology.instance.name, &role_tx).await;
    let admin_listener = tokio::net::TcpListener::bind(topology.admin.listen)
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

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let proxy_metrics = ProxyMetrics::register(&mut registry);
    let cluster_metrics = ClusterMetrics::register(&mut registry);
    let tcp_metrics = TcpMetrics::register(&mut registry);
    let escalation_metrics = EscalationMetrics::register(&mut registry);
    let overrides = load_overrides(store.as_ref())
        .await
        .context("cannot read the stored overrides")?;
    let (observations_tx, observations) = mpsc::channel(OBSERVATION_QUEUE);
    let (ejections_tx, ejections) = mpsc::channel(EJECTION_QUEUE);
    let (controller, handle) = Controller::new(
        topology.clone(),
        overrides,
        store.clone(),
        metrics,
        observations,
        ejections,
        role.clone(),
    );
    // Several instances share a store only on etcd; the embedded store's file lock allows one.
    let controller = match &topology.store {
        StoreBackend::Etcd(settings) => controller.share_health(Sharing {
            instance: topology.instance.name.clone(),
            quorum: settings.health_quorum,
        }),
        StoreBackend::Embedded => controller,
    };
    let mut listeners = Listeners::new(DataPlane::new(
        handle.routing.clone(),
        ejections_tx,
        proxy_metrics,
    ));
    let bound = listeners.bind_new(&topology).await?;
    let problems = listeners.switch(&topology, bound);
    if !problems.is_empty() {
        anyhow::bail!("cannot serve {}", problems.join("; "));
    }

    let instance = topology.instance.name.clone();
    record(
        store.as_ref(),
        NewEvent::new(
            Timestamp::now(),
            EventKind::DaemonStarted,
            "daemon",
            format!(
                "config {}: {} pools, {} origins, {} load balancers",
                path.display(),
                topology.pools.len(),
                topology.origins().count(),
                topology.load_balancers.len(),
            ),
        ),
    )
    .await;

    let (stop_tx, stop) = watch::channel(false);
    let controller_task = tokio::spawn(controller.run(stopped(stop.clone())));
    let campaign_task = tokio::spawn(leader::campaign(
        store.clone(),
        instance.clone(),
        role_tx,
        won,
        stopped(stop.clone()),
    ));
    let instances = instances::starting(&instance, &topology.admin.listen.to_string());
    let instances_task = tokio::spawn(instances::run(
        store.clone(),
        role.clone(),
        instances.clone(),
        stopped(stop.clone()),
    ));
    let mut clusters = Clusters::new(
        store.clone(),
        cluster_metrics,
        tcp_metrics,
        stop.clone(),
        role.clone(),
    );
    let endpoints = clusters.bind(&topology).await?;
    clusters.start(&topology, endpoints).await?;
    let contact_task = match &topology.store {
        StoreBackend::Etcd(settings) => Some(tokio::spawn(contact::run(
            instances.clone(),
            clusters.handles(),
            handle.clone(),
            settings.lease_ttl,
            stopped(stop.clone()),
        ))),
        StoreBackend::Embedded => None,
    };
    let mut scheduler = Scheduler::start(&topology, observations_tx.clone());
    let (commands_tx, mut commands) = mpsc::channel(8);
    let running = Arc::new(ArcSwap::new(topology.clone()));
    let preflight_results = PreflightResults::default();
    let preflight_task = tokio::spawn(preflight::run(
        running.clone(),
        {
            let handles = clusters.handles();
            move || handles.load().to_vec()
        },
        preflight_results.clone(),
        stopped(stop.clone()),
    ));
    let escalation = Escalation::default();
    let escalation_task = tokio::spawn(escalation.clone().run(
        EscalationInputs {
            topology: running.clone(),
            status: handle.status.clone(),
            clusters: Box::new({
                let handles = clusters.handles();
                move || {
                    handles
                        .load()
                        .iter()
                        .map(|c| c.status.load_full())
                        .collect()
                }
            }),
            store: store.clone(),
            role: role.clone(),
            metrics: escalation_metrics,
        },
        stopped(stop.clone()),
    ));
    let enqueued = Arc::new(tokio::sync::Notify::new());
    let alerts_task = tokio::spawn(lifeline_control::alerts::run(
        AlertInputs {
            topology: running.clone(),
            status: handle.status.clone(),
            clusters: Box::new({
                let handles = clusters.handles();
                move || {
                    handles
                        .load()
                        .iter()
                        .map(|c| c.status.load_full())
                        .collect()
                }
            }),
            escalation: escalation.clone(),
            store: store.clone(),
            role: role.clone(),
            enqueued: enqueued.clone(),
        },
        stopped(stop.clone()),
    ));
    let delivery_task = tokio::spawn(deliver::run(
        deliver::DeliveryInputs {
            topology: running.clone(),
            store: store.clone(),
            role: role.clone(),
            enqueued,
        },
        stopped(stop.clone()),
    ));
    let admin = AdminState {
        controller: handle.clone(),
        store: store.clone(),
        registry: Arc::new(registry),
        topology: running.clone(),
        commands: commands_tx,
        clusters: clusters.handles(),
        preflight: preflight_results,
        instances,
        escalation,
    };
    let admin_task = tokio::spawn(lifeline_admin::serve(
        admin_listener,
        admin,
        stopped(stop.clone()),
    ));
    tracing::info!(
        admin = %topology.admin.listen,
        pools = topology.pools.len(),
        origins = topology.origins().count(),
        load_balancers = topology.load_balancers.len(),
        "lifeline running"
    );

    let reloader = Reloader {
        path,
        running: &running,
        controller: &handle,
        store: &store,
        observations: &observations_tx,
    };
    let signal_name = loop {
        tokio::select! {
            _ = terminations.recv() => break "SIGTERM",
            _ = interrupts.recv() => break "SIGINT",
            _ = hangups.recv() => {
                let outcome = reloader.reload(&mut scheduler, &mut listeners, &mut clusters).await;
                log_outcome("SIGHUP", &outcome);
            }
            Some(command) = commands.recv() => match command {
                AdminCommand::Reload { reply } => {
                    let outcome = reloader.reload(&mut scheduler, &mut listeners, &mut clusters).await;
                    log_outcome("admin API", &outcome);
                    if reply.send(outcome).is_err() {
                        tracing::debug!("reload requester went away");
                    }
                }
            },
        }
    };

    // In-flight requests finish first, while health checks and the controller still run.
    tracing::info!(
        signal = signal_name,
        "shutting down: draining in-flight requests"
    );
    listeners.shutdown().await;
    scheduler.stop();
    if stop_tx.send(true).is_err() {
        tracing::debug!("every task had already stopped");
    }
    controller_task.await.context("the controller failed")?;
    preflight_task.await.context("the preflight failed")?;
    escalation_task.await.context("the escalation failed")?;
    alerts_task.await.context("the alerts failed")?;
    delivery_task
        .await
        .context("the notification delivery failed")?;
    instances_task.await.context("the instance status failed")?;
    campaign_task.await.context("the campaign failed")?;
    if let Some(task) = contact_task {
        task.await.context("the contact watch failed")?;
    }
    clusters.join().await;
    admin_task.await.context("the admin API failed")?;
    record(
        store.as_ref(),
        NewEvent::new(
            Timestamp::now(),
            EventKind::DaemonStopped,
            "daemon",
            format!("{signal_name} received"),
        ),
    )
    .await;
    tracing::info!("stopped");
    Ok(())
}

async fn record(store: &dyn StateStore, event: NewEvent) {
    if let Err(error) = store.append(event).await {
        tracing::error!(%error, "could not record event");
    }
}

/// Resolves once the stop flag is raised (or its sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    if stop.wait_for(|stopped| *stopped).await.is_err() {
        tracing::debug!("stop signal sender dropped");
    }
}
