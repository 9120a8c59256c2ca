//! The probe seam: one [`Probe`] per (monitor, origin) target, built by a per-monitor
//! [`Prober`], and the one function that cuts a check at the monitor's timeout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lifeline_model::{
    CheckFailure, FailureKind, Monitor, MonitorKind, Observation, Origin, OriginName,
    PostgresFacts, Timestamp,
};

use crate::http::{HttpMonitor, HttpProbe};
use crate::postgres::PostgresProbe;
use crate::tcp::TcpProbe;

/// A boxed check in flight, borrowing its probe.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Observation> + Send + 'a>>;

/// Checks one origin for one monitor, keeping whatever that target reuses between checks.
pub trait Probe: Send {
    /// The origin this probe checks.
    fn origin(&self) -> &OriginName;

    /// Checks once, with no time limit of its own: call it through [`check_within`]. Dropping the
    /// future midway (a timeout) leaves the probe ready for the next check.
    fn check(&mut self) -> CheckFuture<'_>;
}

/// Runs one check of `probe`, cut at `timeout` (redirects, connecting and reading included). A
/// check cut short is a [`FailureKind::Timeout`] whose latency is the time it was given.
pub async fn check_within(probe: &mut dyn Probe, timeout: Duration) -> Observation {
    let at = Timestamp::now();
    let started = Instant::now();
    match tokio::time::timeout(timeout, probe.check()).await {
        Ok(observation) => observation,
        Err(_elapsed) => Observation {
            origin: probe.origin().clone(),
            at,
            latency: started.elapsed(),
            outcome: Err(CheckFailure::new(
                FailureKind::Timeout,
                format!("no complete answer within {}ms", timeout.as_millis()),
            )),
            postgres: None,
        },
    }
}

/// Builds the probes of one monitor, sharing what they can: an `http`/`https` monitor builds
/// its client (and so its connection pool and TLS settings) once, here.
pub struct Prober {
    timeout: Duration,
    kind: ProberKind,
}

enum ProberKind {
    Http(Result<Arc<HttpMonitor>, CheckFailure>),
    Tcp,
    Postgres(lifeline_model::PostgresCheck),
}

// === impl Prober ===

impl Prober {
    /// Builds what the monitor's probes share. A monitor that cannot work (an HTTP client that
    /// cannot be built, a bad method or header) still gives probes: each check reports why.
    pub fn new(monitor: &Monitor) -> Self {
        let kind = match &monitor.kind {
            MonitorKind::Http(check) => ProberKind::Http(HttpMonitor::new(check).map(Arc::new)),
            MonitorKind::Tcp => ProberKind::Tcp,
            MonitorKind::Postgres(check) => ProberKind::Postgres(check.clone()),
        };
        Self {
            timeout: monitor.timeout,
            kind,
        }
    }

    /// A probe of `origin` for this monitor.
    pub fn probe(&self, origin: &Origin) -> Box<dyn Probe> {
        match &self.kind {
            ProberKind::Http(monitor) => Box::new(HttpProbe::new(monitor, origin)),
            ProberKind::Tcp => Box::new(TcpProbe::new(origin)),
            ProberKind::Postgres(check) => {
                Box::new(PostgresProbe::new(check, origin, self.timeout))
            }
        }
    }
}

/// A probe of `origin` for `monitor`, for a one-off check. Probes that share a monitor should
/// come from one [`Prober`], which builds the HTTP client once.
pub fn probe_for(monitor: &Monitor, origin: &Origin) -> Box<dyn Probe> {
    Prober::new(monitor).probe(origin)
}

/// Times `check` and wraps its outcome as an [`Observation`] of `origin`.
pub(crate) async fn observe(
    origin: OriginName,
    check: impl Future<Output = (Result<(), CheckFailure>, Option<PostgresFacts>)>,
) -> Observation {
    let at = Timestamp::now();
    let started = Instant::now();
    let (outcome, postgres) = check.await;
    Observation {
        origin,
        at,
        latency: started.elapsed(),
        outcome,
        postgres,
    }
}
