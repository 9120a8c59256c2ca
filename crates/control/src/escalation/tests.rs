//! The damping, on a made-up clock: thresholds, `for`, `cool_down`, `hold`, a flapping signal.

use std::time::Duration;

use lifeline_model::{
    PoolName, SEED_LEVELS, Scorecard, ScorecardName, Severity, Signal, SignalName, SignalSource,
    Timestamp,
};

use super::level::{Damper, LevelChange};

fn card(hold_for: u64, cool_down: u64, hold: u64) -> Scorecard {
    Scorecard {
        name: ScorecardName::new("site"),
        signals: vec![Signal {
            name: SignalName::new("s"),
            weight: 1,
            source: SignalSource::Pool {
                pool: PoolName::new("p"),
                when: Severity::Down,
            },
        }],
        levels: SEED_LEVELS,
        hold_for: Duration::from_secs(hold_for),
        cool_down: Duration::from_secs(cool_down),
        hold: Duration::from_secs(hold),
    }
}

/// Feeds `scores` one per 250 ms from t = 0 and returns each change with its time in ms.
fn run(card: &Scorecard, damper: &mut Damper, start_ms: u64, scores: &[u32]) -> Vec<(u64, u8)> {
    scores
        .iter()
        .enumerate()
        .filter_map(|(i, &score)| {
            let at = start_ms + 250 * i as u64;
            damper
                .step(card, score, Timestamp::from_millis(at))
                .map(|LevelChange { to, .. }| (at, to))
        })
        .collect()
}

#[test]
fn seed_levels_map_scores() {
    let card = card(0, 0, 0);
    let levels: Vec<u8> = [0, 3, 4, 7, 8, 10, 11, 15, 40]
        .iter()
        .map(|&s| card.level_of(s))
        .collect();
    assert_eq!(levels, [0, 0, 1, 1, 2, 2, 3, 3, 3]);
}

#[test]
fn a_level_is_entered_only_after_the_score_held_for_for() {
    let card = card(2, 30, 60);
    let mut damper = Damper::default();
    // 9 (level 2) from t = 0: entered at t = 2 s, not before.
    let changes = run(&card, &mut damper, 0, &[9; 12]);
    assert_eq!(changes, [(2000, 2)]);
    assert_eq!(damper.level(), 2);
}

#[test]
fn a_sudden_loss_goes_straight_to_the_level_it_reached() {
    let card = card(2, 30, 60);
    let mut damper = Damper::default();
    let changes = run(&card, &mut damper, 0, &[15; 9]);
    assert_eq!(changes, [(2000, 3)], "no stop at levels 1 and 2");
}

#[test]
fn getting_worse_is_not_held() {
    let card = card(2, 30, 60);
    let mut damper = Damper::default();
    // Level 1 at t = 2 s; then 12 from t = 3 s: level 3 at t = 5 s, well inside `hold`.
    let mut scores = vec![5; 12];
    scores.extend([12; 12]);
    let changes = run(&card, &mut damper, 0, &scores);
    assert_eq!(changes, [(2000, 1), (5000, 3)]);
}

#[test]
fn leaving_a_level_waits_for_cool_down_and_hold() {
    let card = card(2, 10, 30);
    let mut damper = Damper::default();
    assert_eq!(run(&card, &mut damper, 0, &[12; 9]), [(2000, 3)]);
    // Back to 0 at t = 3 s: cool_down would allow level 0 at 13 s, hold only at 32 s.
    let changes = run(&card, &mut damper, 3000, &[0; 140]);
    assert_eq!(changes, [(32000, 0)]);
}

#[test]
fn leaving_goes_down_as_far_as_the_score_has_stayed_below() {
    let card = card(1, 10, 0);
    let mut damper = Damper::default();
    assert_eq!(run(&card, &mut damper, 0, &[12; 5]), [(1000, 3)]);
    // 9 (level 2) for 5 s, then 5 (level 1): below level 3 for 10 s at t = 11.25 s, so
    // level 2 then; below level 2 since t = 6.25 s, so level 1 at 16.25 s.
    let mut scores = vec![9; 20];
    scores.extend([5; 60]);
    let changes = run(&card, &mut damper, 1250, &scores);
    assert_eq!(changes, [(11250, 2), (16250, 1)]);
}

#[test]
fn a_flapping_signal_never_escalates() {
    // On one check (1 s), off the next, for 5 minutes: `for` is 2 checks.
    let card = card(2, 30, 60);
    let mut damper = Damper::default();
    let scores: Vec<u32> = (0..1200)
        .map(|i| if (i / 4) % 2 == 0 { 12 } else { 0 })
        .collect();
    assert_eq!(run(&card, &mut damper, 0, &scores), []);
    assert_eq!(damper.level(), 0);
}

#[test]
fn a_flapping_signal_at_a_level_cannot_bounce_it() {
    let card = card(2, 5, 60);
    let mut damper = Damper::default();
    assert_eq!(run(&card, &mut damper, 0, &[9; 9]), [(2000, 2)]);
    // Then 0 and 9 by turns every 6 s (longer than `for` and `cool_down`). Leaving level 2
    // reverses the last change, so it waits for `hold` (to t = 62 s, when the score is 9
    // again); the next run of 0 then leaves it, and coming back waits for `hold` once more.
    let scores: Vec<u32> = (0..400)
        .map(|i| if (i / 24) % 2 == 0 { 0 } else { 9 })
        .collect();
    let changes = run(&card, &mut damper, 2250, &scores);
    assert_eq!(changes, [(67250, 0)]);
}
