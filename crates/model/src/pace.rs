//! How often one target is checked: every interval, more often while a changed result waits
//! for its confirmations (HAProxy's `fastinter`), each wait jittered so that targets never check
//! in lock-step. The health scheduler and the cluster loop both pace their checks with this.
//!
//! Pure: the caller passes the random number, so tests need no seeded generator.

use std::time::Duration;

/// While a change of result waits for its `rise` or `fall` confirmations, checks come this much
/// more often: an origin that came back, or stopped answering, is confirmed in a fraction of
/// the time `rise` × `interval` would take.
pub const CONFIRM_SPEEDUP: f64 = 4.0;

/// Each wait is stretched or shrunk by up to this fraction.
pub const JITTER: f64 = 0.05;

/// A target's check interval and the confirmations a change of result needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cadence {
    pub interval: Duration,
    /// Consecutive successes that confirm a target is back.
    pub rise: u32,
    /// Consecutive failures that confirm a target is down.
    pub fall: u32,
}

/// One target's recent results, which set the pace of its next check.
#[derive(Clone, Debug, Default)]
pub struct Pace {
    /// The latest result (success or not), once there is one.
    last: Option<bool>,
    /// How many checks in a row gave `last`.
    streak: u32,
    /// `last` differs from the result before it: a change under confirmation.
    changed: bool,
}

// === impl Pace ===

impl Pace {
    /// Records a result and returns the time until the next check, before jitter:
    /// `interval / 4` while a changed result has fewer confirmations than `rise` (success) or
    /// `fall` (failure) needs, else `interval`. The very first result changes nothing: there was
    /// none before it.
    pub fn next_interval(&mut self, ok: bool, cadence: &Cadence) -> Duration {
        if self.last == Some(ok) {
            self.streak = self.streak.saturating_add(1);
        } else {
            self.changed = self.last.is_some();
            self.last = Some(ok);
            self.streak = 1;
        }
        let needed = if ok { cadence.rise } else { cadence.fall };
        if self.changed && self.streak < needed {
            cadence.interval.div_f64(CONFIRM_SPEEDUP)
        } else {
            cadence.interval
        }
    }
}

/// `interval` stretched or shrunk by up to ±5 %: `unit` is a random number in `[0, 1)` (values
/// outside are clamped), 0.5 leaves `interval` as it is.
pub fn jittered(interval: Duration, unit: f64) -> Duration {
    let unit = if unit.is_nan() {
        0.5
    } else {
        unit.clamp(0.0, 1.0)
    };
    interval.mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_result_is_confirmed_at_a_quarter_of_the_interval() {
        let cadence = Cadence {
            interval: Duration::from_secs(4),
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
            assert_eq!(pace.next_interval(ok, &cadence), expected, "step {step}");
        }
    }

    #[test]
    fn jitter_stays_within_five_percent() {
        let interval = Duration::from_secs(10);
        assert_eq!(jittered(interval, 0.0), Duration::from_millis(9_500));
        assert_eq!(jittered(interval, 0.5), interval);
        assert_eq!(jittered(interval, 1.0), Duration::from_millis(10_500));
        assert_eq!(jittered(interval, -3.0), Duration::from_millis(9_500));
        assert_eq!(jittered(interval, f64::NAN), interval);
        let quarter = jittered(interval, 0.25).as_secs_f64();
        assert!((quarter - 9.75).abs() < 1e-9, "{quarter}");
    }
}
