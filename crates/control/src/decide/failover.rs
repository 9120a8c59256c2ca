//! Where each load balancer's traffic goes, so a move to another pool is an event with the time
//! it took (seed 001's "failover triggered" and "RTO exceeded" alerts).

use lifeline_model::{EventKind, LoadBalancer, NewEvent, PoolName, Timestamp};

/// A load balancer's active pool as last decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Active {
    /// Not decided yet since start or since it was added: the first decision is no event.
    Unset,
    Pool(PoolName),
    /// No pool can serve.
    Nothing,
}

/// What the failover decision needs to know about one pool.
pub struct PoolView {
    pub name: PoolName,
    pub serving: bool,
    /// Not every origin is checked yet: it may still turn out to serve.
    pub unknown: bool,
    /// The latest `down_since` among its unhealthy origins: when the failure that made it stop
    /// serving began.
    pub trouble_since: Option<Timestamp>,
}

/// The pool `default_pools` traffic goes to: the first that can serve, else the fallback if it
/// can; a forced pool wins over both. `Unset` while a pool that would come first is still being
/// checked for the first time: deciding then would report a failover that never happened.
pub fn active_pool(lb: &LoadBalancer, forced: Option<&PoolName>, pools: &[PoolView]) -> Active {
    if let Some(pool) = forced {
        return Active::Pool(pool.clone());
    }
    for name in lb
        .routes
        .default_pools
        .iter()
        .chain(&lb.routes.fallback_pool)
    {
        match pools.iter().find(|p| &p.name == name) {
            Some(pool) if pool.serving => return Active::Pool(name.clone()),
            Some(pool) if pool.unknown => return Active::Unset,
            _ => {}
        }
    }
    Active::Nothing
}

/// The events for a load balancer whose active pool went from `old` to `new`.
pub fn failover_events(
    lb: &LoadBalancer,
    old: &Active,
    new: &Active,
    pools: &[PoolView],
    now: Timestamp,
) -> Vec<NewEvent> {
    if old == new || *old == Active::Unset {
        return Vec::new();
    }
    let name = |active: &Active| match active {
        Active::Pool(pool) => pool.to_string(),
        Active::Nothing | Active::Unset => "none".to_string(),
    };
    let rank = |active: &Active| match active {
        Active::Pool(pool) => lb.routes.default_pools.iter().position(|p| p == pool),
        _ => None,
    };
    let trouble_since = match old {
        Active::Pool(pool) => pools
            .iter()
            .find(|p| &p.name == pool)
            .and_then(|p| p.trouble_since),
        _ => None,
    };
    let moved_away = matches!(new, Active::Nothing)
        || matches!((rank(old), rank(new)), (Some(o), Some(n)) if n > o)
        || (rank(old).is_some() && rank(new).is_none());
    let mut events = Vec::new();
    let reason = match (new, moved_away, trouble_since) {
        (Active::Nothing, _, _) => "no pool can serve: requests get 503".to_string(),
        (_, true, Some(since)) => {
            let took = now.since(since);
            if took > lb.rto_alert {
                events.push(
                    NewEvent::new(
                        now,
                        EventKind::RtoExceeded,
                        lb.name.as_str(),
                        format!(
                            "failover took {:.1}s, more than rto_alert {:.1}s",
                            took.as_secs_f64(),
                            lb.rto_alert.as_secs_f64()
                        ),
                    )
                    .transition(name(old), name(new)),
                );
            }
            format!(
                "{} cannot serve; traffic moved {:.1}s after its first failed check",
                name(old),
                took.as_secs_f64()
            )
        }
        (_, true, None) => format!("{} cannot serve", name(old)),
        (_, false, _) => format!("{} can serve again", name(new)),
    };
    events.insert(
        0,
        NewEvent::new(now, EventKind::Failover, lb.name.as_str(), reason)
            .transition(name(old), name(new)),
    );
    events
}
