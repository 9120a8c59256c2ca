//! Raw to [`Topology`]: every check that serde cannot make, all reported at once.
//!
//! One module per section; each check records its problems in the [`Report`] and returns `None`,
//! and the results are combined only after everything has been checked. A new section is a new
//! module with one entry function called from [`topology`].

mod admin;
mod cluster;
mod endpoints;
mod escalation;
mod fields;
mod http;
mod instance;
mod listen;
mod load_balancer;
mod monitor;
mod node;
mod notify;
mod pool;
mod proxy;
mod redis;
mod steering;
mod store;

use std::path::Path;

use lifeline_model::Topology;

use crate::diagnostics::Report;
use crate::raw::RawConfig;

/// Builds the [`Topology`], or `None` after recording every problem. `file` is the config file,
/// for resolving relative paths.
pub(crate) fn topology(raw: &RawConfig, file: &Path, report: &mut Report<'_>) -> Option<Topology> {
    let admin = admin::settings(raw.admin.as_ref(), file, report);
    let proxy = proxy::settings(raw.proxy.as_ref(), report);
    let directory = file.parent().unwrap_or(Path::new(""));
    let store = store::backend(&raw.store, directory, report);
    let instance = instance::settings(&raw.instance, report);
    let (monitors, monitor_names) = monitor::monitors(&raw.monitors, report);
    let (pools, pool_names, origin_names) = pool::pools(&raw.pools, &monitor_names, report);
    let admin_listen = admin.as_ref().map(|admin| admin.listen);
    let context = load_balancer::Context {
        pools: &pool_names,
        directory,
        admin: admin_listen,
    };
    let (load_balancers, listeners) =
        load_balancer::load_balancers(&raw.load_balancers, &context, report);
    let context = cluster::Context {
        origins: &origin_names,
        directory,
        admin: admin_listen,
        load_balancers: listeners,
    };
    let clusters = cluster::clusters(&raw.clusters, context, report);
    let sources = escalation::Sources {
        monitors: monitors.as_deref(),
        pools: pools.as_deref(),
        load_balancers: load_balancers
            .as_ref()
            .map(|lbs| lbs.iter().map(|lb| lb.name.clone()).collect()),
        clusters: clusters.as_deref(),
    };
    let scorecards = escalation::scorecards(&raw.signals, &raw.scorecards, &sources, report);
    let receivers = notify::receivers(&raw.receivers, report);
    let topology = Topology {
        admin: admin?,
        proxy: proxy?,
        store: store?,
        instance: instance?,
        monitors: monitors?,
        pools: pools?,
        load_balancers: load_balancers?,
        clusters: clusters?,
        scorecards: scorecards?,
        receivers: receivers?,
    };
    if topology.pools.is_empty() && topology.clusters.is_empty() {
        report.error(
            0,
            "there is nothing to run: the file has no `[[pool]]` (of origins to check and load \
             balance) and no `[[cluster]]`",
        );
        return None;
    }
    Some(topology)
}
