//! The data plane's Prometheus metrics, all named `lifeline_http_*`.
//!
//! Label handles are looked up once per routing generation ([`OriginMetrics`], [`LbMetrics`]),
//! not per request: a request only bumps atomics. Series appear on first use, so an origin that
//! never failed has no `errors_total` series.

use std::sync::{Arc, OnceLock};

use http::StatusCode;
use lifeline_model::{LoadBalancerName, OriginName, PoolName};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::error::ErrorKind;

/// Status classes `1xx` to `5xx`.
const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// 0.5 ms to 30 s: loopback answers take well under a millisecond, a stuck origin the whole
/// `try_timeout`.
const DURATION_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
    30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LbLabels {
    load_balancer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    load_balancer: String,
    pool: String,
    origin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    load_balancer: String,
    pool: String,
    origin: String,
    code_class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    load_balancer: String,
    pool: String,
    origin: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InFlightLabels {
    origin: String,
}

/// Handles to the data plane's metric families; cheap to clone.
#[derive(Clone)]
pub struct ProxyMetrics {
    families: Arc<Families>,
}

struct Families {
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    retries: Family<LbLabels, Counter>,
    hedges: Family<LbLabels, Counter>,
    duration: Family<OriginLabels, Histogram>,
    in_flight: Family<InFlightLabels, Gauge>,
    no_origin: Family<LbLabels, Counter>,
    ejections_dropped: Counter,
}

/// One load balancer's counters.
pub(crate) struct LbMetrics {
    pub(crate) retries: Counter,
    pub(crate) hedges: Counter,
    pub(crate) no_origin: Counter,
}

/// One origin's series as seen from one load balancer, each created on first use.
pub(crate) struct OriginMetrics {
    metrics: ProxyMetrics,
    labels: OriginLabels,
    requests: [OnceLock<Counter>; CODE_CLASSES.len()],
    errors: [OnceLock<Counter>; ErrorKind::COUNT],
    duration: OnceLock<Histogram>,
    in_flight: OnceLock<Gauge>,
}

// === impl ProxyMetrics ===

impl ProxyMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let families = Families {
            requests: Family::default(),
            errors: Family::default(),
            retries: Family::default(),
            hedges: Family::default(),
            duration: Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS)),
            in_flight: Family::default(),
            no_origin: Family::default(),
            ejections_dropped: Counter::default(),
        };
        registry.register(
            "lifeline_http_requests",
            "Proxied requests answered, by the origin that answered and status class",
            families.requests.clone(),
        );
        registry.register(
            "lifeline_http_errors",
            "Failed attempts on origins by kind (connect, timeout, protocol, status for 5xx)",
            families.errors.clone(),
        );
        registry.register(
            "lifeline_http_retries",
            "Requests sent again to another origin after an attempt failed",
            families.retries.clone(),
        );
        registry.register(
            "lifeline_http_hedges",
            "Requests also sent to a second origin because the first was slow to answer",
            families.hedges.clone(),
        );
        registry.register(
            "lifeline_http_request_duration_seconds",
            "Time from receiving a request to the end of its response, by the origin that answered",
            families.duration.clone(),
        );
        registry.register(
            "lifeline_http_in_flight",
            "Attempts waiting for or streaming an origin's response",
            families.in_flight.clone(),
        );
        registry.register(
            "lifeline_http_no_origin",
            "Requests answered 503 because no origin could serve them",
            families.no_origin.clone(),
        );
        registry.register(
            "lifeline_http_ejections_dropped",
            "Passive ejections not sent because the controller's channel was full",
            families.ejections_dropped.clone(),
        );
        Self {
            families: Arc::new(families),
        }
    }

    pub(crate) fn ejections_dropped(&self) -> Counter {
        self.families.ejections_dropped.clone()
    }

    pub(crate) fn load_balancer(&self, load_balancer: &LoadBalancerName) -> LbMetrics {
        let labels = LbLabels {
            load_balancer: load_balancer.to_string(),
        };
        let families = &self.families;
        LbMetrics {
            retries: families.retries.get_or_create(&labels).clone(),
            hedges: families.hedges.get_or_create(&labels).clone(),
            no_origin: families.no_origin.get_or_create(&labels).clone(),
        }
    }

    pub(crate) fn origin(
        &self,
        load_balancer: &LoadBalancerName,
        pool: &PoolName,
        origin: &OriginName,
    ) -> OriginMetrics {
        OriginMetrics {
            metrics: self.clone(),
            labels: OriginLabels {
                load_balancer: load_balancer.to_string(),
                pool: pool.to_string(),
                origin: origin.to_string(),
            },
            requests: Default::default(),
            errors: Default::default(),
            duration: OnceLock::new(),
            in_flight: OnceLock::new(),
        }
    }
}

// === impl OriginMetrics ===

impl OriginMetrics {
    /// Counts one answer with `status`.
    pub(crate) fn answered(&self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, CODE_CLASSES.len()) - 1;
        self.requests[class]
            .get_or_init(|| {
                let labels = RequestLabels {
                    load_balancer: self.labels.load_balancer.clone(),
                    pool: self.labels.pool.clone(),
                    origin: self.labels.origin.clone(),
                    code_class: CODE_CLASSES[class],
                };
                self.metrics
                    .families
                    .requests
                    .get_or_create(&labels)
                    .clone()
            })
            .inc();
    }

    /// Counts one failed attempt.
    pub(crate) fn failed(&self, kind: ErrorKind) {
        self.errors[kind.index()]
            .get_or_init(|| {
                let labels = ErrorLabels {
                    load_balancer: self.labels.load_balancer.clone(),
                    pool: self.labels.pool.clone(),
                    origin: self.labels.origin.clone(),
                    kind: kind.as_str(),
                };
                self.metrics.families.errors.get_or_create(&labels).clone()
            })
            .inc();
    }

    pub(crate) fn duration(&self) -> &Histogram {
        self.duration.get_or_init(|| {
            self.metrics
                .families
                .duration
                .get_or_create(&self.labels)
                .clone()
        })
    }

    /// The origin's in-flight gauge (one series per origin, shared by its load balancers).
    pub(crate) fn in_flight(&self) -> &Gauge {
        self.in_flight.get_or_init(|| {
            let labels = InFlightLabels {
                origin: self.labels.origin.clone(),
            };
            self.metrics
                .families
                .in_flight
                .get_or_create(&labels)
                .clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;

    use super::*;

    #[test]
    fn series_appear_on_first_use_with_their_labels() {
        let mut registry = Registry::default();
        let metrics = ProxyMetrics::register(&mut registry);
        let origin = metrics.origin(&"web".into(), &"main".into(), &"a".into());
        origin.answered(StatusCode::OK);
        origin.answered(StatusCode::NO_CONTENT);
        origin.answered(StatusCode::BAD_GATEWAY);
        origin.failed(ErrorKind::Timeout);
        let mut text = String::new();
        encode(&mut text, &registry).unwrap();
        assert!(text.contains(
            r#"lifeline_http_requests_total{load_balancer="web",pool="main",origin="a",code_class="2xx"} 2"#
        ), "{text}");
        assert!(text.contains(r#"code_class="5xx"} 1"#), "{text}");
        assert!(text.contains(r#"kind="timeout"} 1"#), "{text}");
        assert!(!text.contains(r#"kind="connect""#), "{text}");
    }
}
