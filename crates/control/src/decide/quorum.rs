//! Shared health: how the leader turns the instances' views of one origin into its health.
//!
//! Each instance checks every origin itself and shares what it sees; the leader decides from all
//! the views, so with `majority` one instance's broken network does not fail an origin over for
//! everyone (as Cloudflare's probes from several regions do).

use lifeline_model::{Health, HealthQuorum};

/// The leader's decision on one origin, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub health: Health,
    pub reason: String,
}

/// Decides an origin's health from `views`: each instance's name and what it sees. Instances that
/// have not checked the origin yet (`Unknown`) have no say; with none left, the origin is unknown.
/// `Majority`: down when more than half of the instances that have checked it see it down (so
/// with two instances, both must). `Any`: down when one of them does.
pub fn verdict<'a>(
    views: impl IntoIterator<Item = (&'a str, Health)>,
    quorum: HealthQuorum,
) -> Verdict {
    let mut down = Vec::new();
    let mut seen = 0usize;
    for (instance, health) in views {
        match health {
            Health::Unknown => {}
            Health::Healthy => seen += 1,
            Health::Unhealthy => {
                seen += 1;
                down.push(instance);
            }
        }
    }
    if seen == 0 {
        return Verdict {
            health: Health::Unknown,
            reason: "no instance has checked it yet".to_string(),
        };
    }
    let is_down = match quorum {
        HealthQuorum::Majority => down.len() * 2 > seen,
        HealthQuorum::Any => !down.is_empty(),
    };
    let counted = format!("{} of {seen} instances see it down", down.len());
    let reason = match (is_down, down.is_empty()) {
        (true, _) => format!("{counted} ({})", down.join(", ")),
        (false, true) => format!("{seen} of {seen} instances see it healthy"),
        (false, false) => format!(
            "{counted} ({}): not a majority, so it stays in",
            down.join(", ")
        ),
    };
    Verdict {
        health: if is_down {
            Health::Unhealthy
        } else {
            Health::Healthy
        },
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Health::{Healthy, Unhealthy, Unknown};

    fn decide(views: &[(&'static str, Health)], quorum: HealthQuorum) -> Health {
        verdict(views.iter().copied(), quorum).health
    }

    #[test]
    fn one_instance_of_three_seeing_an_origin_down_does_not_take_it_out_by_majority() {
        let views = [("a", Unhealthy), ("b", Healthy), ("c", Healthy)];
        assert_eq!(decide(&views, HealthQuorum::Majority), Healthy);
        assert_eq!(decide(&views, HealthQuorum::Any), Unhealthy);
        let reason = verdict(views, HealthQuorum::Majority).reason;
        assert_eq!(
            reason,
            "1 of 3 instances see it down (a): not a majority, so it stays in"
        );
    }

    #[test]
    fn most_instances_seeing_an_origin_down_take_it_out() {
        let views = [("a", Unhealthy), ("b", Healthy), ("c", Unhealthy)];
        let decided = verdict(views, HealthQuorum::Majority);
        assert_eq!(decided.health, Unhealthy);
        assert_eq!(decided.reason, "2 of 3 instances see it down (a, c)");
    }

    #[test]
    fn with_two_instances_a_majority_needs_both() {
        assert_eq!(
            decide(&[("a", Unhealthy), ("b", Healthy)], HealthQuorum::Majority),
            Healthy
        );
        assert_eq!(
            decide(
                &[("a", Unhealthy), ("b", Unhealthy)],
                HealthQuorum::Majority
            ),
            Unhealthy
        );
    }

    #[test]
    fn instances_that_have_not_checked_yet_have_no_say() {
        let views = [("a", Unhealthy), ("b", Unknown), ("c", Unknown)];
        assert_eq!(decide(&views, HealthQuorum::Majority), Unhealthy);
        assert_eq!(decide(&[("a", Unknown)], HealthQuorum::Majority), Unknown);
        assert_eq!(decide(&[], HealthQuorum::Any), Unknown);
    }

    #[test]
    fn a_lone_instance_decides_by_its_own_view() {
        for quorum in [HealthQuorum::Majority, HealthQuorum::Any] {
            assert_eq!(decide(&[("a", Unhealthy)], quorum), Unhealthy);
            assert_eq!(decide(&[("a", Healthy)], quorum), Healthy);
        }
        assert_eq!(
            verdict([("a", Healthy)], HealthQuorum::Majority).reason,
            "1 of 1 instances see it healthy"
        );
    }
}
