//! Rise/fall hysteresis for one origin: a flapping origin does not flip on every check.

use lifeline_model::{Ejection, Health, Observation, OriginHealth};

/// How many consecutive results it takes to change an origin's health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive failures that take a healthy origin down (the monitor's `retries`).
    pub fall: u32,
    /// Consecutive successes that bring an unhealthy origin back.
    pub rise: u32,
}

/// A change of an origin's health, with why it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
    pub reason: String,
}

/// Folds one observation into an origin's health record; returns the transition if its health
/// changed. The first result of an origin not yet checked decides its health at once: there is no
/// earlier state to protect from flapping.
pub fn observe(
    record: &mut OriginHealth,
    observation: &Observation,
    thresholds: Thresholds,
) -> Option<Transition> {
    record.last_check = Some(observation.at);
    record.response_time = Some(observation.latency);
    if observation.postgres.is_some() {
        record.postgres.clone_from(&observation.postgres);
    }
    let from = record.health;
    match &observation.outcome {
        Ok(()) => {
            record.consecutive_successes = record.consecutive_successes.saturating_add(1);
            record.consecutive_failures = 0;
            let rises = match from {
                Health::Unknown => true,
                Health::Unhealthy => record.consecutive_successes >= thresholds.rise,
                Health::Healthy => false,
            };
            if from == Health::Healthy || rises {
                record.down_since = None;
            }
            rises.then(|| {
                record.health = Health::Healthy;
                let reason = if from == Health::Unknown {
                    "first check succeeded".to_string()
                } else {
                    format!(
                        "{} consecutive successful checks",
                        record.consecutive_successes
                    )
                };
                Transition {
                    from,
                    to: Health::Healthy,
                    reason,
                }
            })
        }
        Err(failure) => {
            record.consecutive_failures = record.consecutive_failures.saturating_add(1);
            record.consecutive_successes = 0;
            record.last_error = Some(failure.to_string());
            record.down_since.get_or_insert(observation.at);
            let falls = match from {
                Health::Unknown => true,
                Health::Healthy => record.consecutive_failures >= thresholds.fall,
                Health::Unhealthy => false,
            };
            falls.then(|| {
                record.health = Health::Unhealthy;
                let reason = if from == Health::Unknown {
                    format!("first check failed: {failure}")
                } else {
                    format!(
                        "{} consecutive failed checks, last: {failure}",
                        record.consecutive_failures
                    )
                };
                Transition {
                    from,
                    to: Health::Unhealthy,
                    reason,
                }
            })
        }
    }
}

/// Takes a healthy origin down at once because live traffic failed it `eject_after` times in a
/// row. Its successes start from zero, so the monitor must see it healthy `rise` times again.
pub fn eject(record: &mut OriginHealth, ejection: &Ejection) -> Option<Transition> {
    if record.health != Health::Healthy {
        return None;
    }
    record.health = Health::Unhealthy;
    record.consecutive_successes = 0;
    record.last_error = Some(ejection.last_failure.to_string());
    record.down_since.get_or_insert(ejection.at);
    Some(Transition {
        from: Health::Healthy,
        to: Health::Unhealthy,
        reason: format!(
            "ejected by live traffic: {} consecutive failures, last: {}",
            ejection.consecutive_failures, ejection.last_failure
        ),
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lifeline_model::{CheckFailure, FailureKind, OriginName, Timestamp};

    use super::*;

    const THRESHOLDS: Thresholds = Thresholds { fall: 3, rise: 2 };

    fn check(at_secs: u64, ok: bool) -> Observation {
        Observation {
            origin: OriginName::new("a"),
            at: Timestamp::from_millis(at_secs * 1000),
            latency: Duration::from_millis(7),
            outcome: if ok {
                Ok(())
            } else {
                Err(CheckFailure::new(FailureKind::Status, "got 500"))
            },
            postgres: None,
        }
    }

    fn healthy_record() -> OriginHealth {
        let mut record = OriginHealth::new(Health::Unknown);
        observe(&mut record, &check(0, true), THRESHOLDS);
        record
    }

    #[test]
    fn first_result_decides_an_unknown_origin() {
        let mut up = OriginHealth::new(Health::Unknown);
        let t = observe(&mut up, &check(1, true), THRESHOLDS).unwrap();
        assert_eq!((t.from, t.to), (Health::Unknown, Health::Healthy));

        let mut down = OriginHealth::new(Health::Unknown);
        let t = observe(&mut down, &check(1, false), THRESHOLDS).unwrap();
        assert_eq!((t.from, t.to), (Health::Unknown, Health::Unhealthy));
        assert_eq!(down.down_since, Some(Timestamp::from_millis(1000)));
    }

    #[test]
    fn goes_down_only_after_fall_consecutive_failures() {
        let mut record = healthy_record();
        assert_eq!(observe(&mut record, &check(1, false), THRESHOLDS), None);
        assert_eq!(observe(&mut record, &check(2, false), THRESHOLDS), None);
        assert_eq!(record.consecutive_failures, 2);
        assert_eq!(record.health, Health::Healthy);
        assert_eq!(record.down_since, Some(Timestamp::from_millis(1000)));
        let t = observe(&mut record, &check(3, false), THRESHOLDS).unwrap();
        assert_eq!(t.to, Health::Unhealthy);
        assert_eq!(
            t.reason,
            "3 consecutive failed checks, last: status: got 500"
        );
        assert_eq!(
            record.down_since,
            Some(Timestamp::from_millis(1000)),
            "down since the first failure"
        );
        assert_eq!(record.last_error.as_deref(), Some("status: got 500"));
    }

    #[test]
    fn a_flapping_origin_does_not_flip() {
        let mut record = healthy_record();
        for second in 1..20 {
            let ok = second % 2 == 0;
            assert_eq!(observe(&mut record, &check(second, ok), THRESHOLDS), None);
        }
        assert_eq!(record.health, Health::Healthy);

        for second in 20..23 {
            observe(&mut record, &check(second, false), THRESHOLDS);
        }
        assert_eq!(record.health, Health::Unhealthy);
        for second in 23..40 {
            let ok = second % 2 == 0;
            assert_eq!(observe(&mut record, &check(second, ok), THRESHOLDS), None);
        }
        assert_eq!(record.health, Health::Unhealthy);
    }

    #[test]
    fn comes_back_after_rise_consecutive_successes_and_clears_down_since() {
        let mut record = OriginHealth::new(Health::Unknown);
        observe(&mut record, &check(0, false), THRESHOLDS);
        assert_eq!(observe(&mut record, &check(1, true), THRESHOLDS), None);
        assert!(record.down_since.is_some(), "still down until it rises");
        let t = observe(&mut record, &check(2, true), THRESHOLDS).unwrap();
        assert_eq!((t.from, t.to), (Health::Unhealthy, Health::Healthy));
        assert_eq!(t.reason, "2 consecutive successful checks");
        assert_eq!(record.down_since, None);
        assert_eq!(record.last_check, Some(Timestamp::from_millis(2000)));
        assert_eq!(record.response_time, Some(Duration::from_millis(7)));
    }

    #[test]
    fn ejection_takes_a_healthy_origin_down_until_rise_successes() {
        let mut record = healthy_record();
        let ejection = Ejection {
            origin: OriginName::new("a"),
            at: Timestamp::from_millis(5_000),
            consecutive_failures: 5,
            last_failure: CheckFailure::new(FailureKind::Connect, "connection refused"),
        };
        let t = eject(&mut record, &ejection).unwrap();
        assert_eq!((t.from, t.to), (Health::Healthy, Health::Unhealthy));
        assert_eq!(
            t.reason,
            "ejected by live traffic: 5 consecutive failures, last: connect: connection refused"
        );
        assert_eq!(eject(&mut record, &ejection), None, "already down");
        assert_eq!(observe(&mut record, &check(6, true), THRESHOLDS), None);
        let t = observe(&mut record, &check(7, true), THRESHOLDS).unwrap();
        assert_eq!(t.to, Health::Healthy);
    }

    #[test]
    fn a_success_clears_the_failure_run_of_a_healthy_origin() {
        let mut record = healthy_record();
        observe(&mut record, &check(1, false), THRESHOLDS);
        observe(&mut record, &check(2, true), THRESHOLDS);
        assert_eq!(record.consecutive_failures, 0);
        assert_eq!(record.down_since, None);
    }
}
