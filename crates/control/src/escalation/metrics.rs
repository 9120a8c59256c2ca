//! `lifeline_score{scorecard}`, `lifeline_level{scorecard}` and
//! `lifeline_signal_on{scorecard,signal}`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CardLabels {
    scorecard: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignalLabels {
    scorecard: String,
    signal: String,
}

/// Handles to the escalation metric families; cheap to clone.
#[derive(Clone, Default)]
pub struct EscalationMetrics {
    score: Family<CardLabels, Gauge>,
    level: Family<CardLabels, Gauge>,
    signal_on: Family<SignalLabels, Gauge>,
}

impl EscalationMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "lifeline_score",
            "The scorecard's score: the sum of the weights of its signals that are on",
            metrics.score.clone(),
        );
        registry.register(
            "lifeline_level",
            "The scorecard's damped level: 0 nothing, 1 self-heal, 2 region failover, 3 disaster recovery",
            metrics.level.clone(),
        );
        registry.register(
            "lifeline_signal_on",
            "1 while the signal is on (adds its weight to the scorecard's score), else 0",
            metrics.signal_on.clone(),
        );
        metrics
    }

    pub(crate) fn set(&self, scorecard: &str, score: u32, level: u8) {
        let labels = CardLabels {
            scorecard: scorecard.to_string(),
        };
        self.score.get_or_create(&labels).set(i64::from(score));
        self.level.get_or_create(&labels).set(i64::from(level));
    }

    pub(crate) fn set_signal(&self, scorecard: &str, signal: &str, on: bool) {
        let labels = SignalLabels {
            scorecard: scorecard.to_string(),
            signal: signal.to_string(),
        };
        self.signal_on.get_or_create(&labels).set(i64::from(on));
    }

    /// A scorecard gone from the config takes its series with it.
    pub(crate) fn remove(&self, scorecard: &str, signals: &[String]) {
        let labels = CardLabels {
            scorecard: scorecard.to_string(),
        };
        self.score.remove(&labels);
        self.level.remove(&labels);
        for signal in signals {
            self.signal_on.remove(&SignalLabels {
                scorecard: scorecard.to_string(),
                signal: signal.clone(),
            });
        }
    }
}
