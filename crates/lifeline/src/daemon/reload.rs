//! Re-reading the config file (SIGHUP, `POST /reload`): a bad file changes nothing; a good one
//! switches listeners, clusters, controller and monitors over without a restart.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use lifeline_admin::ReloadOutcome;
use lifeline_config::ProcessEnv;
use lifeline_control::ControllerHandle;
use lifeline_health::Scheduler;
use lifeline_model::{EventKind, NewEvent, Observation, StoreBackend, Timestamp, Topology};
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
        let fixed = restart_only(&self.running.load(), &topology);
        if !fixed.is_empty() {
            return self.reject(fixed).await;
        }
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

/// What a reload may not change, one message per key: the store is opened and this instance
/// named once, at start. Key names only, never values (the password is one).
fn restart_only(running: &Topology, next: &Topology) -> Vec<String> {
    let mut keys = Vec::new();
    match (&running.store, &next.store) {
        (StoreBackend::Etcd(old), StoreBackend::Etcd(new)) => {
            let changed = [
                ("endpoints", old.endpoints != new.endpoints),
                ("prefix", old.prefix != new.prefix),
                ("lease_ttl", old.lease_ttl != new.lease_ttl),
                ("username", old.username != new.username),
                ("password", old.password != new.password),
                ("ca_file", old.ca_file != new.ca_file),
                ("cert_file", old.cert_file != new.cert_file),
                ("key_file", old.key_file != new.key_file),
                ("health_quorum", old.health_quorum != new.health_quorum),
            ];
            keys.extend(changed.iter().filter(|(_, c)| *c).map(|(key, _)| *key));
        }
        (old, new) if old != new => keys.push("backend"),
        _ => {}
    }
    let mut messages: Vec<String> = keys
        .into_iter()
        .map(|key| format!("`[store] {key}` changed: the store is opened at start; restart Lifeline to change it"))
        .collect();
    if running.instance != next.instance {
        messages.push(
            "`[instance] name` changed: an instance keeps its name while it runs; restart \
             Lifeline to change it"
                .to_string(),
        );
    }
    messages
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use lifeline_model::Topology;

    use super::restart_only;

    fn topology(head: &str) -> Topology {
        let text = format!(
            "{head}\n[[pool]]\nname = \"p\"\norigins = [{{ name = \"a\", address = \"127.0.0.1:1\" }}]\n"
        );
        let env = HashMap::from([("ETCD_PASSWORD".to_string(), "hunter2".to_string())]);
        lifeline_config::parse(Path::new("l.toml"), &text, &env)
            .unwrap()
            .topology
    }

    #[test]
    fn store_and_instance_changes_are_named_without_values() {
        let embedded = topology("[instance]\nname = \"lb-1\"");
        let etcd = topology(
            "[instance]\nname = \"lb-1\"\n[store]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]",
        );
        assert!(restart_only(&embedded, &embedded).is_empty());
        assert_eq!(
            restart_only(&embedded, &etcd),
            [
                "`[store] backend` changed: the store is opened at start; restart Lifeline to change it"
            ]
        );
        let changed = topology(
            "[instance]\nname = \"lb-2\"\n[store]\nbackend = \"etcd\"\nendpoints = [\"http://h:2\"]\n\
             username = \"u\"\npassword = \"${ETCD_PASSWORD}\"",
        );
        let messages = restart_only(&etcd, &changed);
        let keys: Vec<&str> = messages
            .iter()
            .map(|m| m.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "[store] endpoints",
                "[store] username",
                "[store] password",
                "[instance] name"
            ]
        );
        assert!(messages.iter().all(|m| !m.contains("hunter2")));
    }
}
