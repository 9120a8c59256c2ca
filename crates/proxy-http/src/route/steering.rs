//! Steering: the order in which one request tries pools.
//!
//! `failover` (and the policies that only differ inside a pool) walks the preferred pools in
//! order, skipping those that are not serving; a pool in its failback ramp gets only its share of
//! requests as first choice and is second otherwise. `random` draws serving pools without
//! replacement, weighted by their available origin weight. The fallback pool always comes last,
//! whatever its state: it is the last resort. `geo` only changes which pools are preferred.

use std::net::IpAddr;

use fastrand::Rng;
use lifeline_model::Cidr;

use super::pool::{PoolPlan, Ramp};

/// `random` draws among this many leading preferred pools; any further ones follow in order.
const MAX_DRAWN: usize = u64::BITS as usize;

/// The pools of one request, best first. Pool indices point into the router's compiled pools.
#[derive(Debug)]
pub(super) struct PoolOrder<'a> {
    pools: &'a [PoolPlan],
    preferred: &'a [usize],
    fallback: Option<usize>,
    ramp: Ramp,
    /// Next position of `preferred` for an in-order walk.
    next: usize,
    /// Positions exchanged for this request: a ramping first pool that lost its draw.
    swap: Option<(usize, usize)>,
    /// A ramping first pool lost its draw and only the fallback can take its place: the
    /// fallback goes first (failback from the fallback ramps up too).
    fallback_first: bool,
    /// `random`: positions already drawn, while draws go on.
    drawn: Option<u64>,
    fallback_done: bool,
}

/// `geo`: region names to preferred pools, and client prefixes to regions.
#[derive(Debug)]
pub(super) struct Regions {
    regions: Box<[Region]>,
    /// Index into `regions` by client prefix.
    prefixes: Box<[(Cidr, usize)]>,
}

/// One entry of `region_pools`, resolved.
#[derive(Debug)]
pub(super) struct Region {
    pub(super) name: Box<str>,
    /// Pool indices, in order of preference.
    pub(super) pools: Box<[usize]>,
}

// === impl PoolOrder ===

impl<'a> PoolOrder<'a> {
    /// Serving preferred pools in order, then the fallback.
    pub(super) fn in_order(
        pools: &'a [PoolPlan],
        preferred: &'a [usize],
        fallback: Option<usize>,
        ramp: Ramp,
        rng: &mut Rng,
    ) -> Self {
        let serving = |position: &usize| pools[preferred[*position]].serving;
        let first = (0..preferred.len()).find(serving);
        let share = first.and_then(|first| ramp.share(pools[preferred[first]].serving_since));
        let mut order = Self::new(pools, preferred, fallback, ramp, None, None);
        if let (Some(first), Some(share)) = (first, share) {
            let loses_draw = |rng: &mut Rng| rng.f64() >= share;
            match (first + 1..preferred.len()).find(serving) {
                Some(second) => order.swap = loses_draw(rng).then_some((first, second)),
                None if order.separate_serving_fallback() => order.fallback_first = loses_draw(rng),
                None => {}
            }
        }
        order
    }

    /// A serving fallback that is not among the preferred pools.
    fn separate_serving_fallback(&self) -> bool {
        self.fallback
            .is_some_and(|pool| self.pools[pool].serving && !self.preferred.contains(&pool))
    }

    /// Serving preferred pools in a weighted random order, then the fallback.
    pub(super) fn weighted(
        pools: &'a [PoolPlan],
        preferred: &'a [usize],
        fallback: Option<usize>,
        ramp: Ramp,
    ) -> Self {
        Self::new(pools, preferred, fallback, ramp, None, Some(0))
    }

    /// Only `pool`, whatever its state: an operator pinned it.
    pub(super) fn only(pools: &'a [PoolPlan], pool: usize, ramp: Ramp) -> Self {
        // A fallback with no preferred pools is yielded once, serving or not.
        Self::new(pools, &[], Some(pool), ramp, None, None)
    }

    fn new(
        pools: &'a [PoolPlan],
        preferred: &'a [usize],
        fallback: Option<usize>,
        ramp: Ramp,
        swap: Option<(usize, usize)>,
        drawn: Option<u64>,
    ) -> Self {
        Self {
            pools,
            preferred,
            fallback,
            ramp,
            next: 0,
            swap,
            fallback_first: false,
            drawn,
            fallback_done: false,
        }
    }

    /// Whether this order may send the request to `pool` at all (for an affinity cookie).
    pub(super) fn allows(&self, pool: usize) -> bool {
        self.fallback == Some(pool) || (self.pools[pool].serving && self.preferred.contains(&pool))
    }

    /// The next pool to try.
    pub(super) fn next(&mut self, rng: &mut Rng) -> Option<usize> {
        if self.fallback_first && !self.fallback_done {
            self.fallback_done = true;
            return self.fallback;
        }
        if let Some(drawn) = self.drawn {
            match self.draw(drawn, rng) {
                Some(position) => {
                    self.drawn = Some(drawn | 1 << position);
                    return Some(self.preferred[position]);
                }
                None => {
                    self.drawn = None;
                    self.next = MAX_DRAWN;
                }
            }
        }
        while self.next < self.preferred.len() {
            let position = match self.swap {
                Some((first, second)) if self.next == first => second,
                Some((first, second)) if self.next == second => first,
                _ => self.next,
            };
            self.next += 1;
            let pool = self.preferred[position];
            if self.pools[pool].serving {
                return Some(pool);
            }
        }
        if self.fallback_done {
            return None;
        }
        self.fallback_done = true;
        // A serving fallback that is also preferred has had its turn.
        self.fallback
            .filter(|pool| !(self.pools[*pool].serving && self.preferred.contains(pool)))
    }

    /// A position not drawn yet, serving and with weight, picked with probability proportional
    /// to its weight; `None` when none is left.
    fn draw(&self, drawn: u64, rng: &mut Rng) -> Option<usize> {
        let weight = |position: usize| {
            let pool = &self.pools[self.preferred[position]];
            if drawn & 1 << position != 0 || !pool.serving {
                0.0
            } else {
                pool.steering_weight(self.ramp)
            }
        };
        let count = self.preferred.len().min(MAX_DRAWN);
        let total: f64 = (0..count).map(weight).sum();
        if total <= 0.0 {
            return None;
        }
        let mut point = rng.f64() * total;
        let mut last = None;
        for position in 0..count {
            let weight = weight(position);
            if weight > 0.0 {
                last = Some(position);
                point -= weight;
                if point < 0.0 {
                    return last;
                }
            }
        }
        last
    }
}

// === impl Regions ===

impl Regions {
    /// `region_pools` resolved to pool indices; prefixes of regions without pools are dropped.
    pub(super) fn new(regions: Vec<Region>, prefixes: &[(Cidr, String)]) -> Self {
        let prefixes = prefixes
            .iter()
            .filter_map(|(cidr, name)| {
                let region = regions.iter().position(|region| *region.name == **name)?;
                Some((*cidr, region))
            })
            .collect();
        Self {
            regions: regions.into_boxed_slice(),
            prefixes,
        }
    }

    /// The client's region's pools: the region named by the header if it has pools, else the
    /// most specific prefix containing the client's address. `None`: an unknown region.
    pub(super) fn pools_for(&self, header: Option<&str>, client: IpAddr) -> Option<&[usize]> {
        let by_header = header.and_then(|header| {
            let header = header.trim();
            self.regions
                .iter()
                .position(|region| region.name.eq_ignore_ascii_case(header))
        });
        let client = client.to_canonical();
        let region = by_header.or_else(|| {
            self.prefixes
                .iter()
                .filter(|(cidr, _)| cidr.contains(client))
                .rev() // the first of equally specific prefixes wins
                .max_by_key(|(cidr, _)| cidr.prefix)
                .map(|(_, region)| *region)
        })?;
        Some(&self.regions[region].pools)
    }
}
