//! `steering_policy`, and the keys only `geo` takes: `region_pools`, `regions` and
//! `region_header`.

use std::cmp::Reverse;

use lifeline_model::{Cidr, PoolName, SteeringPolicy};

use super::fields::{self, Names};
use super::http::is_token_byte;
use super::load_balancer::pool_list;
use crate::diagnostics::Report;
use crate::raw::RawLoadBalancer;

/// The steering policy of a load balancer with its geo settings (empty unless `geo`).
pub(super) struct Steering {
    pub policy: SteeringPolicy,
    pub region_pools: Vec<(String, Vec<PoolName>)>,
    /// Most specific prefix first.
    pub regions: Vec<(Cidr, String)>,
    pub region_header: Option<String>,
}

/// Checks `steering_policy` and the geo keys. With an unknown policy the geo keys are still
/// checked on their own, so their problems are not found one edit later.
pub(super) fn steering(
    raw: &RawLoadBalancer,
    pools: &Names,
    report: &mut Report<'_>,
) -> Option<Steering> {
    let policy = policy(raw, report);
    if let Some(policy) = policy.filter(|p| *p != SteeringPolicy::Geo) {
        return reject_geo_keys(raw, report).then_some(Steering {
            policy,
            region_pools: Vec::new(),
            regions: Vec::new(),
            region_header: None,
        });
    }
    let region_pools = region_pools(raw, policy.is_some(), pools, report);
    let regions = regions(raw, report);
    let region_header = region_header(raw, report);
    Some(Steering {
        policy: policy?,
        region_pools: region_pools?,
        regions: regions?,
        region_header: region_header?,
    })
}

fn policy(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Option<SteeringPolicy> {
    let Some(policy) = &raw.steering_policy else {
        return Some(SteeringPolicy::default());
    };
    let known = [
        SteeringPolicy::Failover,
        SteeringPolicy::Random,
        SteeringPolicy::Geo,
        SteeringPolicy::LeastOutstanding,
        SteeringPolicy::DynamicLatency,
    ];
    let found = known.into_iter().find(|p| p.as_str() == policy.get_ref());
    if found.is_none() {
        report.error(
            policy.span().start,
            format!(
                "unknown steering_policy `{}` (expected failover, random, geo, \
                 least_outstanding or dynamic_latency)",
                policy.get_ref()
            ),
        );
    }
    found
}

/// Reports each geo key given with another policy; true when there is none.
fn reject_geo_keys(raw: &RawLoadBalancer, report: &mut Report<'_>) -> bool {
    let present = [
        ("region_pools", fields::position(&raw.region_pools)),
        ("regions", fields::position(&raw.regions)),
        ("region_header", fields::position(&raw.region_header)),
    ];
    let mut clean = true;
    for (key, at) in present {
        if let Some(at) = at {
            report.error(at, format!("`{key}` applies to steering_policy = \"geo\""));
            clean = false;
        }
    }
    clean
}

/// `region_pools`: required (and non-empty) when `required`, each region naming pools.
fn region_pools(
    raw: &RawLoadBalancer,
    required: bool,
    pools: &Names,
    report: &mut Report<'_>,
) -> Option<Vec<(String, Vec<PoolName>)>> {
    let Some(map) = &raw.region_pools else {
        if !required {
            return Some(Vec::new());
        }
        let at = fields::position(&raw.steering_policy).unwrap_or_default();
        report.error(at, "steering_policy = \"geo\" needs `region_pools`");
        return None;
    };
    if map.get_ref().is_empty() {
        report.error(
            map.span().start,
            "`region_pools` is empty; geo steering needs at least one region",
        );
        return None;
    }
    let checked: Vec<Option<(String, Vec<PoolName>)>> = map
        .get_ref()
        .iter()
        .map(|(region, list)| {
            if region.is_empty() {
                report.error(list.span().start, "a region name must not be empty");
                return None;
            }
            if let Some(message) = fields::control_character(region, "a region name") {
                report.error(list.span().start, message);
                return None;
            }
            let key = format!("region_pools.{region}");
            let pools = pool_list(list, &key, pools, report)?;
            Some((region.clone(), pools))
        })
        .collect();
    checked.into_iter().collect()
}

/// `regions`: address prefix to a region of `region_pools`, most specific prefix first.
fn regions(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Option<Vec<(Cidr, String)>> {
    let Some(map) = &raw.regions else {
        return Some(Vec::new());
    };
    let known = raw.region_pools.as_ref().map(|pools| pools.get_ref());
    let checked: Vec<Option<(Cidr, String)>> = map
        .get_ref()
        .iter()
        .map(|(prefix, region)| {
            // Keys carry no position: problems with one are reported at its value.
            let at = region.span().start;
            let cidr = Cidr::parse(prefix)
                .map_err(|message| report.error(at, format!("`regions`: {message}")))
                .ok();
            if known.is_some_and(|known| !known.contains_key(region.get_ref())) {
                report.error(
                    at,
                    format!(
                        "region `{}` is not a key of `region_pools`",
                        region.get_ref()
                    ),
                );
                return None;
            }
            Some((cidr?, region.get_ref().clone()))
        })
        .collect();
    let mut regions: Vec<(Cidr, String)> = checked.into_iter().collect::<Option<_>>()?;
    regions.sort_by_key(|(cidr, _)| Reverse(cidr.prefix));
    Some(regions)
}

fn region_header(raw: &RawLoadBalancer, report: &mut Report<'_>) -> Option<Option<String>> {
    let Some(header) = &raw.region_header else {
        return Some(None);
    };
    let name = header.get_ref();
    if name.is_empty() || !name.bytes().all(is_token_byte) {
        report.error(
            header.span().start,
            format!("`region_header`: `{name}` is not a valid header name"),
        );
        return None;
    }
    Some(Some(name.clone()))
}
