//! Runs every target's checks on its own jittered schedule and sends the observations on.

use std::collections::HashMap;
use std::time::Duration;

use lifeline_model::{Cadence, MonitorName, Observation, Pace, Topology, jittered};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::probe::{Probe, Prober, check_within};

/// The first check of a target waits a random time below this (or below the interval if shorter).
const MAX_FIRST_DELAY: Duration = Duration::from_secs(1);

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
                    cadence: Cadence {
                        interval: monitor.interval,
                        rise: monitor.rise,
                        fall: monitor.retries,
                    },
                    timeout: monitor.timeout,
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
    cadence: Cadence,
    timeout: Duration,
}

async fn run_target(mut probe: Box<dyn Probe>, schedule: Schedule, tx: mpsc::Sender<Observation>) {
    tokio::time::sleep(first_delay(schedule.cadence.interval)).await;
    let mut pace = Pace::default();
    let mut checked = false;
    loop {
        let started = Instant::now();
        let observation = check_within(probe.as_mut(), schedule.timeout).await;
        if let Err(failure) = &observation.outcome {
            tracing::debug!(origin = %observation.origin, %failure, "check failed");
        }
        let first = !checked;
        checked = true;
        let next = pace.next_interval(observation.outcome.is_ok(), &schedule.cadence);
        if tx.send(observation).await.is_err() {
            tracing::debug!(origin = %probe.origin(), "observation receiver gone; checks stop");
            return;
        }
        let wait = if first {
            phase_delay(next)
        } else {
            jittered(next, fastrand::f64())
        };
        tokio::time::sleep_until(started + wait).await;
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
            cadence: Cadence {
                interval: Duration::from_secs(10),
                rise: 2,
                fall: 2,
            },
            timeout: Duration::from_secs(1),
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
}
