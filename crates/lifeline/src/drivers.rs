//! The driver of each cluster kind: the one place that knows which crate speaks to which
//! database. The cluster managers, the daemon's preflight and `lifeline doctor` all get their
//! driver here.

use std::sync::Arc;

use lifeline_model::{ClusterDriver, ClusterKind};
use lifeline_postgres::PgDriver;
use lifeline_redis::RedisDriver;

/// The driver of clusters of `kind`.
pub fn driver(kind: ClusterKind) -> Arc<dyn ClusterDriver> {
    match kind {
        ClusterKind::Postgres => Arc::new(PgDriver),
        ClusterKind::Redis => Arc::new(RedisDriver),
    }
}
