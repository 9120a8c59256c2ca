//! Live per-origin statistics that outlast routing snapshots: requests in flight, a moving average
//! of response time and consecutive failures of live traffic.
//!
//! They are the only mutable state the planner reads, kept apart from the immutable snapshot so
//! that a new [`RoutingTable`](lifeline_model::RoutingTable) does not forget what traffic taught.
//! Updates are single atomics: no lock on the request path.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use lifeline_model::OriginName;

/// Weight of a new sample in the response-time average, in tenths (alpha = 0.3).
const EWMA_NEW_TENTHS: u64 = 3;

/// Shared per-origin live statistics, kept across routing snapshots (keyed by origin name).
#[derive(Debug, Default)]
pub struct StatsRegistry {
    origins: Mutex<HashMap<OriginName, Arc<OriginStats>>>,
}

/// One origin's live statistics. Cheap to update from any number of requests at once.
#[derive(Debug, Default)]
pub struct OriginStats {
    /// Requests sent and not yet answered.
    in_flight: AtomicU32,
    /// Moving average of response time in microseconds; 0: no sample yet.
    latency_ewma_micros: AtomicU64,
    /// Live-traffic failures since the last success.
    consecutive_failures: AtomicU32,
    /// Filled by the HTTP metrics with this origin's metric handles; see [`OriginStats::metrics`].
    metrics: OnceLock<Box<dyn Any + Send + Sync>>,
}

/// One request in flight to an origin; dropping it ends the request.
#[must_use = "the request counts as in flight until this is dropped"]
#[derive(Debug)]
pub struct InFlight {
    stats: Arc<OriginStats>,
}

// === impl StatsRegistry ===

impl StatsRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    /// The statistics of `origin`, created on first use.
    pub fn get(&self, origin: &OriginName) -> Arc<OriginStats> {
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        origins.entry(origin.clone()).or_default().clone()
    }

    /// Forgets origins for which `keep` is false (removed by a reload), so that one coming back
    /// later starts afresh.
    pub(super) fn retain(&self, keep: impl Fn(&OriginName) -> bool) {
        let mut origins = self.origins.lock().unwrap_or_else(PoisonError::into_inner);
        origins.retain(|name, _| keep(name));
    }
}

// === impl OriginStats ===

impl OriginStats {
    /// Counts one more request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            stats: Arc::clone(self),
        }
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// A response arrived after `latency`: updates the average and ends any run of failures.
    pub fn record_success(&self, latency: Duration) {
        // At least 1 µs, so that 0 keeps meaning "no sample".
        let sample = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let update = |old: u64| {
            Some(if old == 0 {
                sample
            } else {
                let blended = (u128::from(old) * u128::from(10 - EWMA_NEW_TENTHS)
                    + u128::from(sample) * u128::from(EWMA_NEW_TENTHS))
                    / 10;
                u64::try_from(blended).unwrap_or(u64::MAX).max(1)
            })
        };
        // The closure never returns None, so the update always succeeds.
        let _previous =
            self.latency_ewma_micros
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, update);
        self.consecutive_failures.store(0, Ordering::Relaxed);
    }

    /// A request failed (connect error, timeout, 5xx); returns the new consecutive failure count.
    pub fn record_failure(&self) -> u32 {
        self.consecutive_failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1)
    }

    /// The moving average of response time; `None` before the first success.
    pub fn latency_ewma(&self) -> Option<Duration> {
        match self.latency_ewma_micros.load(Ordering::Relaxed) {
            0 => None,
            micros => Some(Duration::from_micros(micros)),
        }
    }

    /// A slot for the HTTP metrics' per-origin handles (counters already labelled with this
    /// origin), built by `init` on first use and kept as long as the origin stays configured, so
    /// requests never look labels up. `None` only if another type was stored first.
    pub fn metrics<T: Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> Option<&T> {
        self.metrics.get_or_init(|| Box::new(init())).downcast_ref()
    }
}

// === impl InFlight ===

impl Drop for InFlight {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_counts_guards() {
        let stats = Arc::new(OriginStats::default());
        let first = stats.begin();
        let second = stats.begin();
        assert_eq!(stats.in_flight(), 2);
        drop(first);
        assert_eq!(stats.in_flight(), 1);
        drop(second);
        assert_eq!(stats.in_flight(), 0);
    }

    #[test]
    fn ewma_starts_at_the_first_sample_then_blends() {
        let stats = OriginStats::default();
        assert_eq!(stats.latency_ewma(), None);
        stats.record_success(Duration::from_millis(10));
        assert_eq!(stats.latency_ewma(), Some(Duration::from_millis(10)));
        stats.record_success(Duration::from_millis(20));
        assert_eq!(stats.latency_ewma(), Some(Duration::from_millis(13)));
        stats.record_success(Duration::ZERO);
        assert!(stats.latency_ewma().is_some());
    }

    #[test]
    fn failures_count_until_a_success() {
        let stats = OriginStats::default();
        assert_eq!(stats.record_failure(), 1);
        assert_eq!(stats.record_failure(), 2);
        stats.record_success(Duration::from_millis(1));
        assert_eq!(stats.record_failure(), 1);
    }

    #[test]
    fn registry_shares_one_entry_per_origin() {
        let registry = StatsRegistry::new();
        let a = OriginName::new("a");
        let first = registry.get(&a);
        assert!(Arc::ptr_eq(&first, &registry.get(&a)));
        assert!(!Arc::ptr_eq(&first, &registry.get(&OriginName::new("b"))));
        registry.retain(|name| name.as_str() == "b");
        assert!(!Arc::ptr_eq(&first, &registry.get(&a)));
    }

    #[test]
    fn metrics_slot_is_built_once() {
        let stats = OriginStats::default();
        assert_eq!(stats.metrics(|| 7_u8), Some(&7));
        assert_eq!(stats.metrics(|| 9_u8), Some(&7));
        assert_eq!(stats.metrics(|| "other type"), None);
    }
}
