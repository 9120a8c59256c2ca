//! The database clusters: a manager per cluster, behind writer and reader endpoints that
//! outlive it. A reload restarts the manager of each changed cluster with the new settings
//! (it resumes from its stored record), starts the added ones and stops the removed ones,
//! while the endpoints of the others, and their connections, stay. What cannot change live
//! is refused, naming the key, and then nothing changes.

mod discovery;
mod endpoints;
mod plan;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use lifeline_control::cluster::{
    ClusterHandle, ClusterManager, ClusterMetrics, ClusterRoutes, ClusterStatus, RetireCheck,
};
use lifeline_model::{Cluster, EventKind, NewEvent, Timestamp, Topology};
use lifeline_proxy_tcp::TcpMetrics;
use lifeline_store::{Role, StateStore, StoreError};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, timeout_at};

pub use self::endpoints::Bound;
use self::endpoints::Endpoints;
use self::plan::Fate;
use super::{record, stopped};
use crate::drivers::driver;

/// The longest a reload waits for a restarted manager's first decision before it answers.
const FIRST_DECISION_LIMIT: Duration = Duration::from_secs(10);

pub struct Clusters {
    store: Arc<dyn StateStore>,
    metrics: ClusterMetrics,
    tcp_metrics: TcpMetrics,
    stop: watch::Receiver<bool>,
    /// Managers act while it says this instance leads.
    role: Role,
    running: Vec<Running>,
    /// What the admin API sees: the running managers, swapped whole by a reload.
    handles: Arc<ArcSwap<Vec<ClusterHandle>>>,
    tasks: JoinSet<()>,
}

struct Running {
    /// The config its manager runs.
    cluster: Arc<Cluster>,
    handle: ClusterHandle,
    endpoints: Endpoints,
}

/// A manager just started, and until when a reload waits for its first decision.
struct Started {
    routes: watch::Receiver<ClusterRoutes>,
    until: Instant,
}

impl Clusters {
    /// No clusters yet; everything stops when `stop` turns true.
    pub fn new(
        store: Arc<dyn StateStore>,
        metrics: ClusterMetrics,
        tcp_metrics: TcpMetrics,
        stop: watch::Receiver<bool>,
        role: Role,
    ) -> Self {
        Self {
            store,
            metrics,
            tcp_metrics,
            stop,
            role,
            running: Vec::new(),
            handles: Arc::default(),
            tasks: JoinSet::new(),
        }
    }

    pub fn handles(&self) -> Arc<ArcSwap<Vec<ClusterHandle>>> {
        self.handles.clone()
    }

    /// Binds the endpoint addresses of `topology` not served yet; nothing if one fails.
    pub async fn bind(&self, topology: &Topology) -> anyhow::Result<Bound> {
        endpoints::bind(&topology.clusters, |name, kind| {
            self.running
                .iter()
                .find(|r| &r.cluster.name == name)
                .and_then(|r| r.endpoints.address(kind))
        })
        .await
    }

    /// Starts every cluster of `topology` (at the daemon's start).
    pub async fn start(&mut self, topology: &Topology, mut bound: Bound) -> anyhow::Result<()> {
        for cluster in &topology.clusters {
            let (running, _) = self
                .add(Arc::new(cluster.clone()), &mut bound)
                .await
                .with_context(|| {
                    format!("cannot read the stored state of cluster {}", cluster.name)
                })?;
            self.running.push(running);
        }
        self.publish();
        Ok(())
    }

    /// Applies `topology`'s clusters. `Ok`: what changed, a line per cluster. `Err`: why
    /// nothing did.
    pub async fn reload(
        &mut self,
        topology: &Topology,
        mut bound: Bound,
    ) -> Result<Vec<String>, Vec<String>> {
        self.reap();
        let running: Vec<Arc<Cluster>> = self.running.iter().map(|r| r.cluster.clone()).collect();
        let plan = plan::plan(&running, &topology.clusters);
        self.retire(&plan).await?;

        let mut old: Vec<Option<Running>> = std::mem::take(&mut self.running)
            .into_iter()
            .map(Some)
            .collect();
        let (mut summary, mut started) = (Vec::new(), Vec::new());
        for (cluster, fate) in plan.clusters {
            let previous = old
                .iter_mut()
                .find(|r| r.as_ref().is_some_and(|r| r.cluster.name == cluster.name))
                .and_then(Option::take);
            let name = cluster.name.clone();
            let outcome = match (fate, previous) {
                (Fate::Unchanged, Some(running)) => Ok((running, None)),
                (Fate::Changed { keys }, Some(running)) => {
                    self.restart(running, cluster, &keys.join(", "), &mut bound, &mut summary)
                        .await
                }
                (_, _) => {
                    summary.push(format!("cluster {name} added"));
                    self.add(cluster, &mut bound)
                        .await
                        .map(|(r, s)| (r, Some(s)))
                }
            };
            match outcome {
                Ok((running, waiting)) => {
                    started.extend(waiting);
                    self.running.push(running);
                }
                Err(error) => summary.push(format!(
                    "not managing cluster {name}: cannot read its stored state: {error}"
                )),
            }
        }
        for gone in old.into_iter().flatten() {
            gone.endpoints.stop();
            self.metrics.forget_cluster(&gone.cluster);
            summary.push(format!(
                "cluster {} removed: its endpoints stopped",
                gone.cluster.name
            ));
        }
        settle(started).await;
        self.publish();
        Ok(summary)
    }

    /// Waits until every task has ended (after the stop signal).
    pub async fn join(mut self) {
        while let Some(joined) = self.tasks.join_next().await {
            if let Err(error) = joined {
                tracing::error!(%error, "a cluster task failed");
            }
        }
    }

    /// Stops the managers that `plan` changes or removes, each at a quiet moment. The first
    /// that cannot stop refuses the reload, and the ones stopped already resume as they were.
    async fn retire(&mut self, plan: &plan::Plan) -> Result<(), Vec<String>> {
        let mut retired = Vec::new();
        for (index, running) in self.running.iter().enumerate() {
            let next = plan
                .clusters
                .iter()
                .find(|(c, _)| c.name == running.cluster.name);
            let check: RetireCheck = match next {
                Some((_, Fate::Unchanged)) => continue,
                Some((new, _)) => {
                    let (old, new) = (running.cluster.clone(), new.clone());
                    Box::new(move |status| plan::keeps_primary(&old, &new, status))
                }
                None => Box::new(|_| Ok(())),
            };
            if let Err(why) = running.handle.retire(check).await {
                let refusal = format!("[[cluster]] {}: {why}", running.cluster.name);
                self.resume(&retired).await;
                return Err(vec![refusal]);
            }
            retired.push(index);
        }
        Ok(())
    }

    /// Starts the managers of `retired` (indices into `running`) again with their own config.
    async fn resume(&mut self, retired: &[usize]) {
        let mut running = std::mem::take(&mut self.running);
        let mut started = Vec::new();
        for &index in retired {
            let stopped = &mut running[index];
            let previous = stopped.handle.status.load_full();
            match launch(self, &stopped.cluster, &stopped.endpoints, Some(&previous)).await {
                Ok((handle, waiting)) => {
                    stopped.handle = handle;
                    started.push(waiting);
                }
                Err(error) => tracing::error!(
                    cluster = %stopped.cluster.name,
                    %error,
                    "cannot resume the cluster's manager; it is not managed"
                ),
            }
        }
        self.running = running;
        settle(started).await;
        self.publish();
    }

    /// A changed cluster (`keys` says what changed): a new manager with the new settings
    /// behind the same endpoints. If it cannot start, the old settings go on.
    async fn restart(
        &mut self,
        mut running: Running,
        cluster: Arc<Cluster>,
        keys: &str,
        bound: &mut Bound,
        summary: &mut Vec<String>,
    ) -> Result<(Running, Option<Started>), StoreError> {
        let previous = running.handle.status.load_full();
        match launch(self, &cluster, &running.endpoints, Some(&previous)).await {
            Ok((handle, waiting)) => {
                let reason = format!("{keys}: its manager restarted with the new settings");
                self.event(&cluster.name, reason).await;
                summary.push(format!("cluster {} reloaded: {keys}", cluster.name));
                let removed = plan::removed_nodes(&running.cluster, &cluster);
                self.metrics.forget_nodes(&running.cluster, &removed);
                running.endpoints.serve(
                    &cluster,
                    bound,
                    &self.tcp_metrics,
                    &mut self.tasks,
                    &self.stop,
                );
                running.cluster = cluster;
                running.handle = handle;
                Ok((running, Some(waiting)))
            }
            Err(error) => {
                summary.push(format!(
                    "cluster {} keeps its old settings: cannot read its stored state: {error}",
                    cluster.name
                ));
                let old = running.cluster.clone();
                let (handle, waiting) =
                    launch(self, &old, &running.endpoints, Some(&previous)).await?;
                running.handle = handle;
                Ok((running, Some(waiting)))
            }
        }
    }

    /// A new cluster: its endpoints, and a manager behind them.
    async fn add(
        &mut self,
        cluster: Arc<Cluster>,
        bound: &mut Bound,
    ) -> Result<(Running, Started), StoreError> {
        let mut endpoints = Endpoints::new(&cluster, &mut self.tasks, &self.stop);
        let (handle, waiting) = launch(self, &cluster, &endpoints, None).await?;
        endpoints.serve(
            &cluster,
            bound,
            &self.tcp_metrics,
            &mut self.tasks,
            &self.stop,
        );
        let running = Running {
            cluster,
            handle,
            endpoints,
        };
        Ok((running, waiting))
    }

    fn publish(&self) {
        self.handles.store(Arc::new(
            self.running.iter().map(|r| r.handle.clone()).collect(),
        ));
    }

    async fn event(&self, cluster: &lifeline_model::ClusterName, reason: String) {
        let event = NewEvent::new(
            Timestamp::now(),
            EventKind::ConfigReloaded,
            cluster.as_str(),
            reason,
        );
        record(self.store.as_ref(), event).await;
    }

    /// Collects the tasks that have ended (stopped managers and endpoints).
    fn reap(&mut self) {
        while let Some(joined) = self.tasks.try_join_next() {
            if let Err(error) = joined {
                tracing::error!(%error, "a cluster task failed");
            }
        }
    }
}

/// Starts a manager for `cluster` that resumes from its stored record (and counts on from
/// `previous`), and points `endpoints` at it.
async fn launch(
    clusters: &mut Clusters,
    cluster: &Arc<Cluster>,
    endpoints: &Endpoints,
    previous: Option<&ClusterStatus>,
) -> Result<(ClusterHandle, Started), StoreError> {
    let (mut manager, handle) = ClusterManager::start(
        cluster.clone(),
        driver(cluster.kind),
        clusters.store.clone(),
        clusters.metrics.clone(),
        clusters.role.clone(),
    )
    .await?;
    if let Some(previous) = previous {
        manager.carry_over(previous);
    }
    endpoints.follow(handle.routes.clone());
    clusters
        .tasks
        .spawn(manager.run(stopped(clusters.stop.clone())));
    // Its first round of checks takes at most one check interval (the checks' timeout).
    let limit = (cluster.check_interval + Duration::from_secs(2)).min(FIRST_DECISION_LIMIT);
    let waiting = Started {
        routes: handle.routes.clone(),
        until: Instant::now() + limit,
    };
    Ok((handle, waiting))
}

/// Waits until each manager has made its first decision (published its first routes) or its
/// time is up, so that the admin API never shows a manager that has not checked its nodes yet.
async fn settle(started: Vec<Started>) {
    for Started { mut routes, until } in started {
        if timeout_at(until, routes.changed()).await.is_err() {
            tracing::warn!("a restarted cluster manager has not decided yet");
        }
    }
}
