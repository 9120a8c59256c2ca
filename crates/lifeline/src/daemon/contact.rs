//! Whether this instance is still in touch, and the writer endpoints closed while it is not.
//!
//! An instance that reaches neither the store nor most of the other instances for longer than
//! `lease_ttl` may be routing writes to a primary the others have replaced, so every cluster's
//! writer endpoint closes (existing connections too) until it is back in touch. While the store
//! is down for everyone, the instances still answer each other's `GET /failover/status`, so
//! they stay in touch and keep writing; and a peer that knows a newer epoch of a cluster than
//! this instance closes that cluster's writer here until the store brings the new record.
//! An instance that has not reached the store for longer than `lease_ttl` also routes origins by
//! its own checks until it does: nobody can decide them for it meanwhile (shared health).
//! Only with etcd: the embedded store is this machine's own file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_control::ControllerHandle;
use lifeline_control::cluster::ClusterHandle;
use lifeline_model::ClusterName;
use tokio::time::Instant;

use super::instances::Instances;

/// What the peers that answered said: the newest epoch each knows of each cluster.
struct Answers {
    answered: usize,
    epochs: HashMap<String, u64>,
}

/// Watches contact every quarter of `lease_ttl` until `stop` resolves.
pub async fn run(
    instances: Instances,
    clusters: Arc<ArcSwap<Vec<ClusterHandle>>>,
    controller: ControllerHandle,
    lease_ttl: Duration,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let every = (lease_ttl / 4).max(Duration::from_millis(250));
    let http = reqwest::Client::builder()
        .timeout(every)
        .build()
        .unwrap_or_default();
    let mut tick = tokio::time::interval(every);
    let mut in_touch_at = Instant::now();
    let mut store_reached_at = Instant::now();
    let mut without_store = false;
    let mut isolated: HashMap<ClusterName, bool> = HashMap::new();
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let listed = instances.load_full();
        let Some((this, peers)) = listed.split_first() else {
            continue;
        };
        let answers = if this.store_reachable {
            None
        } else {
            Some(ask(&http, peers.iter().map(|p| p.admin.as_str())).await)
        };
        // A majority of the instances known, this one included.
        let majority = |answered: usize| (answered + 1) * 2 > peers.len() + 1;
        if this.store_reachable || answers.as_ref().is_some_and(|a| majority(a.answered)) {
            in_touch_at = Instant::now();
        }
        if this.store_reachable {
            store_reached_at = Instant::now();
        }
        let lost = store_reached_at.elapsed() > lease_ttl;
        if lost != without_store {
            without_store = lost;
            controller.without_store(lost).await;
        }
        let cut_off = in_touch_at.elapsed() > lease_ttl;
        for handle in clusters.load().iter() {
            let epoch = handle.status.load().epoch;
            let newer = answers
                .as_ref()
                .and_then(|a| a.epochs.get(handle.name.as_str()))
                .filter(|known| **known > epoch);
            let now = cut_off || newer.is_some();
            let was = isolated.insert(handle.name.clone(), now).unwrap_or(false);
            if now == was {
                continue;
            }
            if now {
                tracing::warn!(
                    cluster = %handle.name,
                    newer_epoch = ?newer,
                    "out of touch with the store and most instances, or behind them: the writer endpoint closes"
                );
            } else {
                tracing::info!(cluster = %handle.name, "back in touch: the writer endpoint opens");
            }
            handle.isolate(now).await;
        }
    }
}

/// Asks every peer's admin API at once which epoch it knows of each cluster.
async fn ask<'a>(http: &reqwest::Client, admins: impl Iterator<Item = &'a str>) -> Answers {
    let mut asked = tokio::task::JoinSet::new();
    for admin in admins {
        let (http, url) = (http.clone(), format!("http://{admin}/failover/status"));
        asked.spawn(async move {
            let answer = http.get(url).send().await.ok()?;
            answer.json::<serde_json::Value>().await.ok()
        });
    }
    let mut answers = Answers {
        answered: 0,
        epochs: HashMap::new(),
    };
    while let Some(joined) = asked.join_next().await {
        let Ok(Some(status)) = joined else { continue };
        answers.answered += 1;
        for cluster in status["clusters"].as_array().into_iter().flatten() {
            if let (Some(name), Some(epoch)) = (cluster["name"].as_str(), cluster["epoch"].as_u64())
            {
                let known = answers.epochs.entry(name.to_owned()).or_default();
                *known = (*known).max(epoch);
            }
        }
    }
    answers
}
