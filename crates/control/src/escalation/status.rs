//! What `GET /scorecards` shows of each scorecard.

use lifeline_model::{ScorecardName, SignalName, Timestamp};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct ScorecardStatus {
    pub name: ScorecardName,
    pub score: u32,
    /// The damped level, 0-3.
    pub level: u8,
    /// The level the score maps to now, before damping.
    pub score_level: u8,
    /// The lowest score of levels 1, 2 and 3.
    pub levels: [u32; 3],
    /// When the level last changed (`null`: never since the daemon started).
    pub level_since: Option<Timestamp>,
    pub signals: Vec<SignalStatus>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignalStatus {
    pub name: SignalName,
    pub weight: u32,
    pub on: bool,
    pub value: String,
}
