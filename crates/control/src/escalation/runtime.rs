//! The escalation task: evaluates every scorecard of the running config a few times a second,
//! from what the controller and the cluster managers published, and carries out what changed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{
    EventKind, NewEvent, Scorecard, ScorecardName, StatusSnapshot, Timestamp, Topology,
};
use lifeline_store::{Role, StateStore, leading_token};

use super::level::Damper;
use super::metrics::EscalationMetrics;
use super::signals::{Tally, World, describe, tally};
use super::status::{ScorecardStatus, SignalStatus};
use crate::cluster::ClusterStatus;

/// How often the scorecards are evaluated: well inside any check interval, so a level is
/// entered within a fraction of a check of its `for` running out.
const EVALUATE_EVERY: Duration = Duration::from_millis(250);

/// Where the escalation task reads from and writes to.
pub struct EscalationInputs {
    /// The running config (swapped whole by a reload).
    pub topology: Arc<ArcSwap<Topology>>,
    /// The controller's snapshot: origins, pools, load balancers.
    pub status: Arc<ArcSwap<StatusSnapshot>>,
    /// Every running cluster manager's status.
    pub clusters: Box<dyn Fn() -> Vec<Arc<ClusterStatus>> + Send + Sync>,
    pub store: Arc<dyn StateStore>,
    /// Changes are recorded only while this instance leads, as the controller's are.
    pub role: Role,
    pub metrics: EscalationMetrics,
}

/// The scorecards' state, for the admin API.
#[derive(Clone, Default)]
pub struct Escalation {
    published: Arc<ArcSwap<Vec<ScorecardStatus>>>,
}

/// One scorecard between evaluations.
#[derive(Default)]
struct Card {
    damper: Damper,
    score: Option<u32>,
    level_since: Option<Timestamp>,
    /// Its signals' names as last evaluated: their metric series go when it goes.
    signals: Vec<String>,
}

impl Escalation {
    pub fn scorecards(&self) -> Arc<Vec<ScorecardStatus>> {
        self.published.load_full()
    }

    /// Evaluates until `shutdown` resolves.
    pub async fn run(self, inputs: EscalationInputs, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut cards: HashMap<ScorecardName, Card> = HashMap::new();
        let mut tick = tokio::time::interval(EVALUATE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            let topology = inputs.topology.load_full();
            let status = inputs.status.load_full();
            let clusters = (inputs.clusters)();
            let world = World {
                topology: &topology,
                status: &status,
                clusters: &clusters,
            };
            forget_removed(&mut cards, &topology, &inputs.metrics);
            let now = Timestamp::now();
            let mut published = Vec::with_capacity(topology.scorecards.len());
            for scorecard in &topology.scorecards {
                let card = cards.entry(scorecard.name.clone()).or_default();
                let tally = tally(scorecard, &world);
                for event in card.evaluate(scorecard, &tally, now) {
                    log(&event);
                    if leading_token(&inputs.role).is_some()
                        && let Err(error) = inputs.store.append(event).await
                    {
                        tracing::error!(%error, scorecard = %scorecard.name, "could not record a score or level change");
                    }
                }
                inputs.publish_metrics(scorecard, &tally, card.damper.level());
                published.push(card.status(scorecard, &tally));
            }
            self.published.store(Arc::new(published));
        }
    }
}

fn log(event: &NewEvent) {
    tracing::info!(kind = event.kind.as_str(), subject = %event.subject, reason = %event.reason, "escalation");
}

impl EscalationInputs {
    fn publish_metrics(&self, scorecard: &Scorecard, tally: &Tally, level: u8) {
        let name = scorecard.name.as_str();
        self.metrics.set(name, tally.score, level);
        for (signal, reading) in scorecard.signals.iter().zip(&tally.readings) {
            self.metrics
                .set_signal(name, signal.name.as_str(), reading.on);
        }
    }
}

impl Card {
    /// The events of this evaluation: the score's change, then the level's.
    fn evaluate(&mut self, scorecard: &Scorecard, tally: &Tally, now: Timestamp) -> Vec<NewEvent> {
        let subject = format!("scorecard/{}", scorecard.name);
        let mut events = Vec::new();
        // The first evaluation of a daemon reports a score only if it is not zero.
        if self.score.unwrap_or(0) != tally.score || (self.score.is_none() && tally.score > 0) {
            let mut event = NewEvent::new(
                now,
                EventKind::ScoreChanged,
                &subject,
                describe(scorecard, tally),
            );
            event.old = self.score.map(|s| s.to_string());
            event.new = Some(tally.score.to_string());
            events.push(event);
        }
        self.score = Some(tally.score);
        self.signals = scorecard
            .signals
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        if let Some(change) = self.damper.step(scorecard, tally.score, now) {
            let reason = format!(
                "level {} -> {} ({}); {}",
                change.from,
                change.to,
                why(scorecard, change.to > change.from),
                describe(scorecard, tally)
            );
            let mut event = NewEvent::new(now, EventKind::LevelChanged, &subject, reason);
            event.old = Some(change.from.to_string());
            event.new = Some(change.to.to_string());
            events.push(event);
            self.level_since = Some(now);
        }
        events
    }

    fn status(&self, scorecard: &Scorecard, tally: &Tally) -> ScorecardStatus {
        ScorecardStatus {
            name: scorecard.name.clone(),
            score: tally.score,
            level: self.damper.level(),
            score_level: scorecard.level_of(tally.score),
            levels: scorecard.levels,
            level_since: self.level_since,
            signals: scorecard
                .signals
                .iter()
                .zip(&tally.readings)
                .map(|(signal, reading)| SignalStatus {
                    name: signal.name.clone(),
                    weight: signal.weight,
                    on: reading.on,
                    value: reading.value.clone(),
                })
                .collect(),
        }
    }
}

/// The rule that let the level move, for the event.
fn why(scorecard: &Scorecard, up: bool) -> String {
    if up {
        format!("the score held for {:?}", scorecard.hold_for)
    } else {
        format!("the score stayed lower for {:?}", scorecard.cool_down)
    }
}

/// Drops the state and the metric series of scorecards the config no longer has.
fn forget_removed(
    cards: &mut HashMap<ScorecardName, Card>,
    topology: &Topology,
    metrics: &EscalationMetrics,
) {
    cards.retain(|name, card| {
        let kept = topology.scorecards.iter().any(|s| s.name == *name);
        if !kept {
            metrics.remove(name.as_str(), &card.signals);
        }
        kept
    });
}
