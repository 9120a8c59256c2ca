//! The controller's Prometheus metrics: origin health, check latency and failures, pool state.

use lifeline_model::{EventKind, Health, Observation, OriginName, PoolName, PoolState};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::decide::State;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    pool: String,
    origin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    pool: String,
    origin: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolStateLabels {
    pool: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    kind: &'static str,
}

const POOL_STATES: [PoolState; 4] = [
    PoolState::Unknown,
    PoolState::Healthy,
    PoolState::Degraded,
    PoolState::Down,
];

/// One origin's series, held by the controller so a check costs no label lookups.
pub(crate) struct OriginHandles {
    labels: OriginLabels,
    duration: Histogram,
    healthy: Gauge,
}

impl OriginHandles {
    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.set(i64::from(healthy));
    }
}

/// Handles to the controller's metric families; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    origin_healthy: Family<OriginLabels, Gauge>,
    check_duration: Family<OriginLabels, Histogram>,
    check_failures: Family<FailureLabels, Counter>,
    pool_state: Family<PoolStateLabels, Gauge>,
    pool_healthy_origins: Family<PoolLabels, Gauge>,
    events: Family<EventLabels, Counter>,
    decision_lag: Histogram,
}

impl Metrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            origin_healthy: Family::default(),
            check_duration: Family::new_with_constructor(|| {
                // 1 ms to about 8 s: loopback checks take a millisecond, a timeout several seconds.
                Histogram::new([
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 8.0,
                ])
            }),
            check_failures: Family::default(),
            pool_state: Family::default(),
            pool_healthy_origins: Family::default(),
            events: Family::default(),
            // 1 ms to 5 s: on a LAN a decision reaches a follower in milliseconds.
            decision_lag: Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
            ]),
        };
        registry.register(
            "lifeline_origin_healthy",
            "1 if the origin is healthy after hysteresis, 0 if unhealthy or not checked yet",
            metrics.origin_healthy.clone(),
        );
        registry.register(
            "lifeline_check_duration_seconds",
            "Time taken by health checks",
            metrics.check_duration.clone(),
        );
        registry.register(
            "lifeline_check_failures",
            "Failed health checks by kind",
            metrics.check_failures.clone(),
        );
        registry.register(
            "lifeline_pool_state",
            "1 for the pool's current state (unknown, healthy, degraded, down), 0 for the others",
            metrics.pool_state.clone(),
        );
        registry.register(
            "lifeline_pool_healthy_origins",
            "Enabled origins of the pool that are healthy",
            metrics.pool_healthy_origins.clone(),
        );
        registry.register(
            "lifeline_events",
            "Events recorded by kind",
            metrics.events.clone(),
        );
        registry.register(
            "lifeline_health_decision_lag_seconds",
            "From the leader's decision on origins' health to this follower routing by it",
            metrics.decision_lag.clone(),
        );
        metrics
    }

    /// A follower applied a decision the leader made `lag` ago.
    pub(crate) fn decision_applied(&self, lag: std::time::Duration) {
        self.decision_lag.observe(lag.as_secs_f64());
    }

    /// The per-origin series an observation updates, looked up once per origin rather than on
    /// every check.
    pub(crate) fn origin_handles(&self, pool: &PoolName, origin: &OriginName) -> OriginHandles {
        let labels = OriginLabels {
            pool: pool.to_string(),
            origin: origin.to_string(),
        };
        OriginHandles {
            duration: self.check_duration.get_or_create_owned(&labels),
            healthy: self.origin_healthy.get_or_create_owned(&labels),
            labels,
        }
    }

    /// Counts one check: its duration and, if it failed, why.
    pub(crate) fn checked(&self, handles: &OriginHandles, observation: &Observation) {
        handles.duration.observe(observation.latency.as_secs_f64());
        if let Err(failure) = &observation.outcome {
            self.check_failures
                .get_or_create(&FailureLabels {
                    pool: handles.labels.pool.clone(),
                    origin: handles.labels.origin.clone(),
                    kind: failure.kind.as_str(),
                })
                .inc();
        }
    }

    pub(crate) fn recorded(&self, kind: EventKind) {
        self.events
            .get_or_create(&EventLabels {
                kind: kind.as_str(),
            })
            .inc();
    }

    /// Sets a pool's state and healthy-origin gauges from the state.
    pub(crate) fn refresh_pool(&self, state: &State, pool: usize) {
        let name = state.topology().pools[pool].name.to_string();
        let current = state.pool_state_at(pool);
        for candidate in POOL_STATES {
            self.pool_state
                .get_or_create(&PoolStateLabels {
                    pool: name.clone(),
                    state: candidate.as_str(),
                })
                .set(i64::from(candidate == current));
        }
        let healthy = i64::try_from(state.pool_counts(pool).healthy).unwrap_or(i64::MAX);
        self.pool_healthy_origins
            .get_or_create(&PoolLabels { pool: name })
            .set(healthy);
    }

    /// After a start or reload: drops the series of origins and pools that are gone, then sets
    /// every gauge.
    pub(crate) fn rebuild(&self, state: &State) {
        self.origin_healthy.clear();
        self.pool_state.clear();
        self.pool_healthy_origins.clear();
        for (index, pool) in state.topology().pools.iter().enumerate() {
            for origin in &pool.origins {
                let healthy = origin.enabled
                    && state.health_of(origin.name.as_str()) == Some(Health::Healthy);
                self.origin_healthy
                    .get_or_create(&OriginLabels {
                        pool: pool.name.to_string(),
                        origin: origin.name.to_string(),
                    })
                    .set(i64::from(healthy));
            }
            self.refresh_pool(state, index);
        }
    }
}
