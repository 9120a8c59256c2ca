//! Raw to [`Topology`]: every check that serde cannot make, all reported at once.
//!
//! One module per section; each check records its problems in the [`Report`] and returns `None`,
//! and the results are combined only after everything has been checked. A new section is a new
//! module with one entry function called from [`topology`].

mod admin;
mod fields;
mod http;
mod listen;
mod load_balancer;
mod monitor;
mod pool;
mod steering;

use std::path::Path;

use lifeline_model::Topology;

use crate::diagnostics::Report;
use crate::raw::RawConfig;

/// Builds the [`Topology`], or `None` after recording every problem. `file` is the config file,
/// for resolving relative paths.
pub(crate) fn topology(raw: &RawConfig, file: &Path, report: &mut Report<'_>) -> Option<Topology> {
    let admin = admin::settings(raw.admin.as_ref(), file, report);
    let (monitors, monitor_names) = monitor::monitors(&raw.monitors, report);
    let (pools, pool_names) = pool::pools(&raw.pools, &monitor_names, report);
    let context = load_balancer::Context {
        pools: &pool_names,
        directory: file.parent().unwrap_or(Path::new("")),
        admin: admin.as_ref().map(|admin| admin.listen),
    };
    let load_balancers = load_balancer::load_balancers(&raw.load_balancers, &context, report);
    Some(Topology {
        admin: admin?,
        monitors: monitors?,
        pools: pools?,
        load_balancers: load_balancers?,
        clusters: Vec::new(),
    })
}
