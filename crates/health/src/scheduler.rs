//! Runs every target's checks on its own jittered schedule and sends the observations on.

use std::collections::HashMap;
use std::time::Duration;

use lifeline_model::{MonitorName, Observation, Topology};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::probe::{Probe, Prober, check_within};

/// The first check of a target waits a random time below this (or below the interval if shorter).
const MAX_FIRST_DELAY: Duration = Duration::from_secs(1);

/// Each interval is stretched or shrunk by up to this fraction.
const JITTER: f64 = 0.05;

/// While a change of result waits for its `rise` or `fall` confirmations, checks come this much
/// more often (HAProxy's `fastinter`): an origin that came back, or stopped answering, is
/// confirmed in a fraction of the time `rise` × `interval` would take.
const CONFIRM_SPEEDUP: f64 = 4.0;

/// One task per (monitor, origin) target. Dropping it stops every task, like [`Scheduler::stop`].
pub struct Scheduler {
    tasks: JoinSet<()>,
}

// === impl Scheduler ===

impl Scheduler {
    /// Starts checking every enabled origin of every pool that has a monitor, each on its own
    /// schedule: the first check after a random delay in `[0, min(interval, 1s))`, so that
    /// every origin's health is known soon; the second after a random part of the interval,
    /// which spreads the targets' checks evenly over it; then every `interval` ±5 %, so a
    /// thousand origins never check in lock-step (nor all within the first second of every
    /// interval); every `interval / 4` while a changed result is being confirmed. Each check
    /// is cut at the monitor's `timeout` (see [`check_within`]).
    ///
    /// Observations go to `tx`. Each target has its own task, so a slow receiver never delays
    /// another target's check, but does hold back the next check of a target whose observation is
    /// waiting to be sent. A task ends when `tx`'s receiver is gone. Must be called within a Tokio
    /// runtime.
    pub fn start(topology: &Topology, tx: mpsc::Sender<Observation>) -> Scheduler {
        let mut probers: HashMap<&MonitorName, Prober> = HashMap::new();
        let mut tasks = JoinSet::new();
        for pool in &topology.pools {
            let Some(name) = &pool.monitor else { continue };
            let Some(monitor) = topology.monitor(name.as_str()) else {
                tracing::warn!(pool = %pool.name, monitor = %name, "pool names an unknown monitor; its origins are not checked");
                continue;
            };
            let prober = probers
                .entry(&monitor.name)
                .or_insert_with(|| Prober::new(monitor));
            for origin in pool.origins.iter().filter(|origin| origin.enabled) {
                let probe = prober.probe(origin);
                let schedule = Schedule {
                    interval: monitor.interval,
                    timeout: monitor.timeout,
                    rise: monitor.rise,
                    fall: monitor.retries,
                };
                tasks.spawn(run_target(probe, schedule, tx.clone()));
            }
        }
        tracing::debug!(targets = tasks.len(), "health checks started");
        Scheduler { tasks }
    }

    /// How many targets are being checked.
    pub fn targets(&self) -> usize {
        self.tasks.len()
    }

    /// Stops every task. A check in flight is dropped and reports nothing.
    pub fn stop(mut self) {
        self.tasks.abort_all();
    }
}

#[derive(Clone, Copy)]
struct Schedule {
    interval: Duration,
    timeout: Duration,
    rise: u32,
    fall: u32,
}

/// One target's recent results, which set the pace of its next check.
#[derive(Default)]
struct Pace {
    /// The latest result (success or not), once there is one.
    last: Option<bool>,
    /// How many checks in a row gave `last`.
    streak: u32,
    /// `last` differs from the result before it: a change under confirmation.
    changed: bool,
}

async fn run_target(mut probe: Box<dyn Probe>, schedule: Schedule, tx: mpsc::Sender<Observation>) {
    tokio::time::sleep(first_delay(schedule.interval)).await;
    let mut pace = Pace::default();
    loop {
        let started = Instant::now();
        let observation = check_within(probe.as_mut(), schedule.timeout).await;
        if let Err(failure) = &observation.outcome {
            tracing::debug!(origin = %observation.origin, %failure, "check failed");
        }
        let first = pace.last.is_none();
        let next = pace.next_interval(observation.outcome.is_ok(), &schedule);
        if tx.send(observation).await.is_err() {
            tracing::debug!(origin = %probe.origin(), "observation receiver gone; checks stop");
            return;
        }
        let wait = if first {
            phase_delay(next)
        } else {
            jittered(next)
        };
        tokio::time::sleep_until(started + wait).await;
    }
}

// === impl Pace ===

impl Pace {
    /// Records a result and returns the time until the next check: `interval / 4` while a
    /// changed result has fewer confirmations than `rise` (success) or `fall` (failure) needs,
    /// else `interval`. The very first result changes nothing: there was none before it.
    fn next_interval(&mut self, ok: bool, schedule: &Schedule) -> Duration {
        if self.last == Some(ok) {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.changed = self.last.is_some();
            self.last = Some(ok);
            self.streak = 1;
        }
        let needed = if ok { schedule.rise } else { schedule.fall };
        if self.changed && self.streak < needed {
            schedule.interval.div_f64(CONFIRM_SPEEDUP)
        } else {
            schedule.interval
        }
    }
}

/// A random delay in `[0, min(interval, 1s))`.
fn first_delay(interval: Duration) -> Duration {
    interval.min(MAX_FIRST_DELAY).mul_f64(fastrand::f64())
}

/// A random delay in `(0, interval]`: where in the interval a target's checks fall.
fn phase_delay(interval: Duration) -> Duration {
    interval.mul_f64(1.0 - fastrand::f64())
}

/// `interval` stretched or shrunk by a random fraction up to ±5 %.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use lifeline_model::{OriginName, Timestamp};

    use super::*;
    use crate::probe::CheckFuture;

    /// Always healthy at once; notes which target was checked when.
    struct Noting {
        target: usize,
        origin: OriginName,
        start: Instant,
        checks: Arc<Mutex<Vec<(usize, Duration)>>>,
    }

    impl Probe for Noting {
        fn origin(&self) -> &OriginName {
            &self.origin
        }

        fn check(&mut self) -> CheckFuture<'_> {
            let at = self.start.elapsed();
            self.checks.lock().unwrap().push((self.target, at));
            let observation = Observation {
                origin: self.origin.clone(),
                at: Timestamp::now(),
                latency: Duration::ZERO,
                outcome: Ok(()),
                postgres: None,
            };
            Box::pin(async move { observation })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn targets_started_together_check_spread_over_the_interval() {
        let schedule = Schedule {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(1),
            rise: 2,
            fall: 2,
        };
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let start = Instant::now();
        let checks = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = JoinSet::new();
        for target in 0..200 {
            let probe = Noting {
                target,
                origin: OriginName::new(format!("o{target}")),
                start,
                checks: Arc::clone(&checks),
            };
            tasks.spawn(run_target(Box::new(probe), schedule, tx.clone()));
        }
        tokio::time::sleep(Duration::from_secs(32)).await;

        let checks = checks.lock().unwrap();
        for target in 0..200 {
            let first = checks.iter().find(|(checked, _)| *checked == target);
            assert!(
                // Tokio's timers round up to the millisecond: a delay just under a second
                // ends at one.
                first.is_some_and(|(_, at)| *at <= Duration::from_secs(1)),
                "target {target} is first checked within a second: {first:?}"
            );
        }
        // Two intervals on, each target is checked once per interval, at its own phase: about
        // 20 of the 200 in each second of it (bounds that chance misses about once in 10^6
        // runs), where lock-step checks would leave most seconds empty.
        let mut seconds = [0_u32; 10];
        for (_, at) in checks
            .iter()
            .filter(|(_, at)| (21..31).contains(&at.as_secs()))
        {
            seconds[at.as_secs() as usize - 21] += 1;
        }
        for (second, count) in seconds.iter().enumerate() {
            assert!(
                (2..=50).contains(count),
                "second {}: {count} checks {seconds:?}",
                second + 21
            );
        }
        tasks.abort_all();
    }

    #[test]
    fn first_delay_stays_below_the_interval_and_one_second() {
        for _ in 0..1_000 {
            assert!(first_delay(Duration::from_millis(200)) < Duration::from_millis(200));
            assert!(first_delay(Duration::from_secs(30)) < Duration::from_secs(1));
        }
    }

    #[test]
    fn phases_spread_over_the_whole_interval() {
        let interval = Duration::from_secs(10);
        let mut tenths = [0_u32; 10];
        for _ in 0..10_000 {
            let delay = phase_delay(interval);
            assert!(delay > Duration::ZERO && delay <= interval, "{delay:?}");
            tenths[((delay.as_secs_f64() - 1e-9) as usize).min(9)] += 1;
        }
        // Even spread: about 1,000 in each tenth of the interval.
        for (tenth, count) in tenths.iter().enumerate() {
            assert!((800..1_200).contains(count), "tenth {tenth}: {count}");
        }
    }

    #[test]
    fn a_changed_result_is_confirmed_at_a_quarter_of_the_interval() {
        let schedule = Schedule {
            interval: Duration::from_secs(4),
            timeout: Duration::from_secs(1),
            rise: 3,
            fall: 2,
        };
        let (normal, fast) = (Duration::from_secs(4), Duration::from_secs(1));
        let mut pace = Pace::default();
        let results = [
            (true, normal),  // the first result: nothing to confirm
            (true, normal),  // steady
            (false, fast),   // down? one failure of the two `fall` needs
            (false, normal), // confirmed down
            (false, normal), // steady down
            (true, fast),    // back? one success of the three `rise` needs
            (true, fast),    // two
            (true, normal),  // confirmed up
            (false, fast),   // flapping: down again
            (true, fast),    // and up again: a new change to confirm
        ];
        for (step, (ok, expected)) in results.into_iter().enumerate() {
            assert_eq!(pace.next_interval(ok, &schedule), expected, "step {step}");
        }
    }

    #[test]
    fn jitter_stays_within_five_percent_and_varies() {
        let interval = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..1_000).map(|_| jittered(interval)).collect();
        for sample in &samples {
            assert!(*sample >= Duration::from_millis(9_500), "{sample:?}");
            assert!(*sample <= Duration::from_millis(10_500), "{sample:?}");
        }
        let spread = samples
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*samples.iter().min().unwrap());
        assert!(spread > Duration::from_millis(500), "{spread:?}");
    }
}
