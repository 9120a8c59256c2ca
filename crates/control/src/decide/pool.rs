//! A pool's state from its origins' health and its `minimum_origins`.

use lifeline_model::PoolState;

/// How many of a pool's enabled origins are in each health.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolCounts {
    pub enabled: usize,
    pub healthy: usize,
    pub unknown: usize,
}

/// Healthy when every enabled origin is; degraded while at least `minimum` are; unknown while
/// the origins not yet checked could still make up the minimum; down otherwise.
pub fn pool_state(counts: PoolCounts, minimum: usize) -> PoolState {
    if counts.enabled > 0 && counts.healthy == counts.enabled {
        PoolState::Healthy
    } else if counts.healthy >= minimum {
        PoolState::Degraded
    } else if counts.healthy + counts.unknown >= minimum {
        PoolState::Unknown
    } else {
        PoolState::Down
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(enabled: usize, healthy: usize, unknown: usize) -> PoolCounts {
        PoolCounts {
            enabled,
            healthy,
            unknown,
        }
    }

    #[test]
    fn states_against_minimum_origins() {
        assert_eq!(pool_state(counts(3, 3, 0), 2), PoolState::Healthy);
        assert_eq!(pool_state(counts(3, 2, 0), 2), PoolState::Degraded);
        assert_eq!(pool_state(counts(3, 2, 1), 2), PoolState::Degraded);
        assert_eq!(pool_state(counts(3, 1, 0), 2), PoolState::Down);
        assert_eq!(pool_state(counts(3, 0, 0), 1), PoolState::Down);
    }

    #[test]
    fn unknown_while_unchecked_origins_could_still_reach_the_minimum() {
        assert_eq!(pool_state(counts(3, 0, 3), 2), PoolState::Unknown);
        assert_eq!(pool_state(counts(3, 1, 1), 2), PoolState::Unknown);
        assert_eq!(pool_state(counts(3, 0, 1), 2), PoolState::Down);
    }

    #[test]
    fn a_pool_without_enabled_origins_is_down() {
        assert_eq!(pool_state(counts(0, 0, 0), 1), PoolState::Down);
    }
}
