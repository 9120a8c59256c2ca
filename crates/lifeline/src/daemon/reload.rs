//! Re-reading the config file (SIGHUP, `POST /reload`): a bad file changes nothing; a good one
//! switches listeners, clusters, controller and monitors over without a restart.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use lifeline_admin::ReloadOutcome;
use lifeline_config::ProcessEnv;
use lifeline_control::ControllerHandle;
use lifeline_health::Scheduler;
use lifeline_model::{EventKind, NewEvent, Observation, Timestamp, Topology};
use lifeline_store::StateStore;
use tokio::sync::mpsc;

use super::clusters::Clusters;
use super::listeners::Listeners;

pub struct Reloader<'a> {
    pub path: &'a Path,
    pub running: &'a ArcSwap<Topology>,
    pub controller: &'a ControllerHandle,
    pub store: &'a Arc<dyn StateStore>,
    pub observations: &'a mpsc::Sender<Observation>,
}

impl Reloader<'_> {
    pub async fn reload(
        &self,
        scheduler: &mut Scheduler,
        listeners: &mut Listeners,
        clusters: &mut Clusters,
    ) -> ReloadOutcome {
        let topology = match lifeline_config::load(self.path, &ProcessEnv) {
            Ok(loaded) => {
                super::log_warnings(&loaded.warnings);
                Arc::new(loaded.topology)
            }
            Err(diagnostics) => {
                let errors: Vec<String> =
                    diagnostics.to_string().lines().map(str::to_owned).collect();
                return self.reject(errors).await;
            }
        };
        // New addresses are bound first: if one cannot be, nothing has changed yet.
        let bound = match listeners.bind_new(&topology).await {
            Ok(bound) => bound,
            Err(error) => return self.reject(vec![format!("{error:#}")]).await,
        };
        let endpoints = match clusters.bind(&topology).await {
            Ok(bound) => bound,
            Err(error) => return self.reject(vec![format!("{error:#}")]).await,
        };
        // Clusters go first: they are the one part that can still refuse (a manager that must
        // not stop now, a primary the new file removes), and then nothing else changes either.
        let cluster_changes = match clusters.reload(&topology, endpoints).await {
            Ok(changes) => changes,
            Err(errors) => return self.reject(errors).await,
        };
        if !self.controller.reload(topology.clone()).await {
            return ReloadOutcome::Rejected {
                errors: vec!["the controller has stopped".into()],
            };
        }
        // The controller knows the new origins before their first observation arrives.
        std::mem::replace(
            scheduler,
            Scheduler::start(&topology, self.observations.clone()),
        )
        .stop();
        let problems = listeners.switch(&topology, bound);

        let previous = self.running.swap(topology.clone());
        let mut summary = format!(
            "{} monitors, {} pools, {} origins, {} load balancers",
            topology.monitors.len(),
            topology.pools.len(),
            topology.origins().count(),
            topology.load_balancers.len()
        );
        if previous.admin.listen != topology.admin.listen
            || previous.admin.state_file != topology.admin.state_file
            || previous.admin.limits != topology.admin.limits
        {
            summary.push_str(
                "; admin.listen, admin.state_file and the admin limits take effect at the next restart",
            );
        }
        for change in cluster_changes {
            summary.push_str(&format!("; {change}"));
        }
        for problem in problems {
            summary.push_str(&format!("; not serving {problem}"));
        }
        ReloadOutcome::Applied { summary }
    }

    async fn reject(&self, errors: Vec<String>) -> ReloadOutcome {
        let event = NewEvent::new(
            Timestamp::now(),
            EventKind::ConfigRejected,
            self.path.display().to_string(),
            format!("{} problems, first: {}", errors.len(), errors[0]),
        );
        if let Err(error) = self.store.append(event).await {
            tracing::error!(%error, "could not record event");
        }
        ReloadOutcome::Rejected { errors }
    }
}

pub fn log_outcome(source: &str, outcome: &ReloadOutcome) {
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
