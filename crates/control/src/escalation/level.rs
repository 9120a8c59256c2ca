//! A scorecard's damped level. Pure: the score and the time in, a change out.
//!
//! - Up: a higher level is entered once the score has reached it without a break for `for`
//!   (straight to the highest level so held: a site lost at once goes to level 3 at once).
//! - Down: a lower level is entered once the score has stayed below every level above it for
//!   `cool_down`.
//! - `hold`: after a change, a change the other way waits until `hold` has passed since it.
//!   A further change the same way does not wait: getting worse must never be held back
//!   (the "at most once per `hold`" would keep a site that degrades in two steps at
//!   level 1 for a minute while it is lost).

use lifeline_model::{MAX_LEVEL, Scorecard, Timestamp};

/// Which way a level moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One scorecard's level, and what the damping remembers.
#[derive(Clone, Debug, Default)]
pub struct Damper {
    level: u8,
    /// For levels 1..=3 (index 0..3): since when the score has reached the level, unbroken.
    reached_since: [Option<Timestamp>; MAX_LEVEL as usize],
    /// For levels 1..=3: since when the score has been below the level, unbroken.
    below_since: [Option<Timestamp>; MAX_LEVEL as usize],
    last_change: Option<(Timestamp, Direction)>,
}

/// A level change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelChange {
    pub from: u8,
    pub to: u8,
}

impl Damper {
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Takes the score at `now` (call it every evaluation, changed or not), and returns the
    /// change if the level moves now.
    pub fn step(&mut self, card: &Scorecard, score: u32, now: Timestamp) -> Option<LevelChange> {
        let undamped = card.level_of(score);
        for level in 1..=MAX_LEVEL {
            let index = usize::from(level - 1);
            if undamped >= level {
                self.below_since[index] = None;
                self.reached_since[index].get_or_insert(now);
            } else {
                self.reached_since[index] = None;
                self.below_since[index].get_or_insert(now);
            }
        }
        let held = |since: Option<Timestamp>, long| since.is_some_and(|s| now.since(s) >= long);
        let up = (self.level + 1..=MAX_LEVEL)
            .rev()
            .find(|&level| held(self.reached_since[usize::from(level - 1)], card.hold_for));
        // Below level l + 1 for `cool_down` means below every level above it for as long.
        let down = (0..self.level)
            .find(|&level| held(self.below_since[usize::from(level)], card.cool_down));
        let to = up.or(down)?;
        let direction = if to > self.level {
            Direction::Up
        } else {
            Direction::Down
        };
        if let Some((at, last)) = self.last_change
            && last != direction
            && now.since(at) < card.hold
        {
            return None;
        }
        let change = LevelChange {
            from: self.level,
            to,
        };
        self.level = to;
        self.last_change = Some((now, direction));
        Some(change)
    }
}
