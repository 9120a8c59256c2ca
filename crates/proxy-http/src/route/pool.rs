//! One pool compiled for a routing snapshot, and how it ranks its origins for one request.
//!
//! Only available origins (healthy, not draining) are kept. Smooth weighted round-robin (nginx's
//! algorithm) is precomputed into a schedule walked by one atomic cursor, so the common pick is a
//! lock-free `fetch_add`. While an origin is in its slow-start ramp its weight changes with time;
//! the pool then picks by weighted random draw over the ramped weights instead. Under
//! `least_outstanding` and `dynamic_latency` the ramped weight only breaks ties: those policies
//! already limit what a newcomer gets by how fast it answers.

use std::cmp::Reverse;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fastrand::Rng;
use lifeline_model::{OriginName, Pool, PoolRouting, Timestamp};

use super::Candidate;
use super::affinity::{mix64, name_key, score};
use super::stats::StatsRegistry;

/// Longest round-robin schedule; heavier weight sets are scaled down to about this (relative
/// error below 1/1000 per origin at the configurable maximum weight of 1000).
const MAX_SCHEDULE: u64 = 4_096;

/// The share of its weight an origin or pool gets at the very start of its ramp.
const RAMP_FLOOR: f64 = 0.05;

#[derive(Debug)]
pub(super) struct PoolPlan {
    /// `PoolState::is_serving`.
    pub(super) serving: bool,
    /// Start of the pool's failback ramp.
    pub(super) serving_since: Option<Timestamp>,
    /// Available origins, in config order.
    pub(super) members: Box<[Member]>,
    /// Sum of the members' weights, for weighted pool choice.
    weight: u64,
    /// When the most recently recovered member became healthy: no ramp runs past that plus
    /// `slow_start`.
    newest_member: Option<Timestamp>,
    /// Member indices in smooth weighted round-robin order.
    schedule: Box<[usize]>,
    cursor: AtomicUsize,
}

#[derive(Debug)]
pub(super) struct Member {
    pub(super) candidate: Candidate,
    weight: u32,
    healthy_since: Option<Timestamp>,
    name_key: u64,
}

/// How a pool orders its members; chosen by the steering policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Within {
    RoundRobin,
    /// Fewest requests in flight first.
    LeastOutstanding,
    /// Lowest moving average of response time first; origins never measured before all others.
    LowestLatency,
}

/// The slow-start ramp at the time of one request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Ramp {
    pub(super) now: Timestamp,
    pub(super) slow_start: Duration,
}

/// The candidates of one plan: distinct origins, at most `cap`, borrowed from the compiled pools
/// (a plan copies no names and bumps no reference counts).
#[derive(Debug)]
pub(super) struct Shortlist<'a> {
    pub(super) list: Vec<&'a Candidate>,
    cap: usize,
}

// === impl PoolPlan ===

impl PoolPlan {
    /// `first_slot`: the [`Candidate::slot`] of the pool's first origin.
    pub(super) fn compile(
        pool: &Pool,
        first_slot: usize,
        routing: Option<&PoolRouting>,
        stats: &StatsRegistry,
    ) -> Self {
        let members: Box<[Member]> = pool
            .origins
            .iter()
            .enumerate()
            .filter_map(|(index, origin)| {
                let live = routing?.origins.get(index)?;
                live.is_available().then(|| Member {
                    candidate: Candidate {
                        origin: origin.name.clone(),
                        slot: first_slot + index,
                        pool: pool.name.clone(),
                        address: origin.address.clone(),
                        protocol: pool.origin_protocol.clone(),
                        stats: stats.get(&origin.name),
                    },
                    // Validation forbids weight 0 on an enabled origin.
                    weight: origin.weight.max(1),
                    healthy_since: live.healthy_since,
                    name_key: name_key(origin.name.as_str()),
                })
            })
            .collect();
        let weights: Vec<u32> = members.iter().map(|member| member.weight).collect();
        Self {
            serving: routing.is_some_and(|routing| routing.state.is_serving()),
            serving_since: routing.and_then(|routing| routing.serving_since),
            weight: weights.iter().map(|weight| u64::from(*weight)).sum(),
            newest_member: members
                .iter()
                .filter_map(|member| member.healthy_since)
                .max(),
            schedule: smooth_schedule(&weights),
            members,
            cursor: AtomicUsize::new(0),
        }
    }

    pub(super) fn member(&self, index: usize) -> &Member {
        &self.members[index]
    }

    /// Appends this pool's members to `shortlist`, best first.
    pub(super) fn rank<'a>(
        &'a self,
        within: Within,
        ramp: Ramp,
        rng: &mut Rng,
        shortlist: &mut Shortlist<'a>,
    ) {
        if self.members.is_empty() || shortlist.is_full() {
            return;
        }
        match within {
            Within::RoundRobin => {
                let pick = if self.ramping(ramp) {
                    self.weighted_draw(ramp, rng)
                } else {
                    let turn = self.cursor.fetch_add(1, Ordering::Relaxed);
                    self.schedule[turn % self.schedule.len()]
                };
                // Only as far as the shortlist has room: a pool may have a thousand members.
                let count = self.members.len();
                for offset in 0..count {
                    if shortlist.is_full() {
                        break;
                    }
                    shortlist.push(&self.members[(pick + offset) % count]);
                }
            }
            Within::LeastOutstanding | Within::LowestLatency => {
                let seed = rng.u64(..);
                let key = |index: usize, member: &Member| {
                    let weight = (member.effective_weight(ramp) * 1_000.0) as u64;
                    (
                        within.load(member),
                        Reverse(weight),
                        mix64(seed ^ index as u64),
                    )
                };
                // Selection rather than sorting: the shortlist is short and nothing is allocated.
                while !shortlist.is_full() {
                    let best = self
                        .members
                        .iter()
                        .enumerate()
                        .filter(|(_, member)| !shortlist.contains(&member.candidate.origin))
                        .min_by_key(|(index, member)| key(*index, member));
                    let Some((_, member)) = best else { break };
                    shortlist.push(member);
                }
            }
        }
    }

    /// The member that owns `client_key` by weighted rendezvous hashing.
    pub(super) fn rendezvous(&self, client_key: u64) -> Option<&Member> {
        self.members
            .iter()
            .map(|member| (score(client_key, member.name_key, member.weight), member))
            .max_by(|(a, _), (b, _)| a.total_cmp(b))
            .map(|(_, member)| member)
    }

    /// This pool's weight for weighted pool choice, reduced while the pool ramps up.
    pub(super) fn steering_weight(&self, ramp: Ramp) -> f64 {
        self.weight as f64
            * ramp
                .share(self.serving_since)
                .map_or(1.0, |f| f.max(RAMP_FLOOR))
    }

    fn ramping(&self, ramp: Ramp) -> bool {
        ramp.share(self.newest_member).is_some()
    }

    fn weighted_draw(&self, ramp: Ramp, rng: &mut Rng) -> usize {
        let total: f64 = self.members.iter().map(|m| m.effective_weight(ramp)).sum();
        let mut point = rng.f64() * total;
        for (index, member) in self.members.iter().enumerate() {
            point -= member.effective_weight(ramp);
            if point < 0.0 {
                return index;
            }
        }
        self.members.len() - 1
    }
}

// === impl Within ===

impl Within {
    /// What ranks members under this policy, lowest first.
    fn load(self, member: &Member) -> u64 {
        let stats = &member.candidate.stats;
        match self {
            Within::RoundRobin => 0,
            Within::LeastOutstanding => u64::from(stats.in_flight()),
            // No sample yet counts as 0: a new origin gets probed.
            Within::LowestLatency => stats.latency_ewma().map_or(0, |ewma| {
                u64::try_from(ewma.as_micros()).unwrap_or(u64::MAX)
            }),
        }
    }
}

// === impl Member ===

impl Member {
    /// The weight, reduced to at least 5 % of it while the origin ramps up after recovering.
    fn effective_weight(&self, ramp: Ramp) -> f64 {
        f64::from(self.weight)
            * ramp
                .share(self.healthy_since)
                .map_or(1.0, |f| f.max(RAMP_FLOOR))
    }
}

// === impl Ramp ===

impl Ramp {
    /// The fraction of its ramp something that recovered at `since` has gone through, or `None`
    /// once the ramp is over (or there is none).
    pub(super) fn share(self, since: Option<Timestamp>) -> Option<f64> {
        let elapsed = self.now.since(since?);
        (elapsed < self.slow_start).then(|| elapsed.as_secs_f64() / self.slow_start.as_secs_f64())
    }
}

// === impl Shortlist ===

impl<'a> Shortlist<'a> {
    pub(super) fn new(cap: usize) -> Self {
        Self {
            list: Vec::with_capacity(cap),
            cap,
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.list.len() >= self.cap
    }

    pub(super) fn contains(&self, origin: &OriginName) -> bool {
        self.list
            .iter()
            .any(|candidate| &candidate.origin == origin)
    }

    /// Adds `member` unless it is already listed or the list is full.
    pub(super) fn push(&mut self, member: &'a Member) {
        if !self.is_full() && !self.contains(&member.candidate.origin) {
            self.list.push(&member.candidate);
        }
    }
}

/// nginx's smooth weighted round-robin, unrolled into one full cycle of member indices: each
/// turn every member gains its weight and the richest pays the total and is picked, which
/// interleaves picks (weights 5:1:1 give a a b a c a a rather than a a a a a b c).
fn smooth_schedule(weights: &[u32]) -> Box<[usize]> {
    let divisor = weights.iter().fold(0, |g, w| gcd(g, u64::from(*w))).max(1);
    let mut reduced: Vec<u64> = weights.iter().map(|w| u64::from(*w) / divisor).collect();
    let total: u64 = reduced.iter().sum();
    if total > MAX_SCHEDULE {
        for weight in &mut reduced {
            *weight = (*weight * MAX_SCHEDULE / total).max(1);
        }
    }
    let total: u64 = reduced.iter().sum();
    let mut current = vec![0_i64; reduced.len()];
    let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        for (credit, weight) in current.iter_mut().zip(&reduced) {
            *credit += *weight as i64;
        }
        let richest = (0..current.len())
            .rev()
            .max_by_key(|index| current[*index])
            .unwrap_or(0);
        current[richest] -= total as i64;
        schedule.push(richest);
    }
    schedule.into_boxed_slice()
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_interleaves_like_nginx() {
        assert_eq!(&*smooth_schedule(&[5, 1, 1]), &[0, 0, 1, 0, 2, 0, 0]);
        assert_eq!(&*smooth_schedule(&[3, 1]), &[0, 0, 1, 0]);
        assert_eq!(&*smooth_schedule(&[200, 100]), &[0, 1, 0]);
        assert!(smooth_schedule(&[]).is_empty());
    }

    #[test]
    fn long_schedules_are_scaled_down_keeping_ratios() {
        let schedule = smooth_schedule(&[1000, 999, 1, 7]);
        assert!(schedule.len() as u64 <= MAX_SCHEDULE + 4);
        let count = |index| schedule.iter().filter(|i| **i == index).count() as f64;
        assert!((count(0) / count(1) - 1000.0 / 999.0).abs() < 0.01);
        assert!(count(2) >= 1.0);
    }
}
