//! This instance as `GET /status` lists it: its role and fencing token from its leadership,
//! and whether it reaches the store, checked once a second. Losing the leadership (etcd: the
//! lease expired) is recorded as `leadership_lost` the moment its signal fires.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{EventKind, InstanceName, InstanceRole, InstanceStatus, NewEvent, Timestamp};
use lifeline_store::{Leadership, StateStore};

/// How often the store is pinged for `store_reachable` and `last_seen`.
const REFRESH: Duration = Duration::from_secs(1);

/// The instances `/status` lists, published for the admin API.
pub type Instances = Arc<ArcSwap<Vec<InstanceStatus>>>;

/// This instance right after winning its campaign.
pub fn elected(name: &InstanceName, leadership: &Leadership) -> Instances {
    Arc::new(ArcSwap::from_pointee(vec![status(
        name,
        leadership,
        true,
        Timestamp::now(),
    )]))
}

/// Keeps `instances` current until `stop` resolves.
pub async fn run(
    store: Arc<dyn StateStore>,
    name: InstanceName,
    leadership: Leadership,
    instances: Instances,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut tick = tokio::time::interval(REFRESH);
    let mut lost = leadership.is_lost();
    loop {
        tokio::select! {
            () = &mut stop => return,
            () = leadership.lost(), if !lost => {
                lost = true;
                tracing::warn!(fencing_token = leadership.fencing_token, "leadership lost");
                let event = NewEvent::new(
                    Timestamp::now(),
                    EventKind::LeadershipLost,
                    name.as_str(),
                    format!(
                        "the leadership of fencing token {} ended (its lease expired or was taken over)",
                        leadership.fencing_token
                    ),
                );
                if let Err(error) = store.append(event).await {
                    tracing::error!(%error, "could not record event");
                }
            }
            _ = tick.tick() => {}
        }
        let reachable = match store.ping().await {
            Ok(()) => true,
            Err(error) => {
                tracing::debug!(%error, "the store does not answer");
                false
            }
        };
        let current = status(&name, &leadership, reachable, Timestamp::now());
        instances.store(Arc::new(vec![current]));
    }
}

fn status(
    name: &InstanceName,
    leadership: &Leadership,
    store_reachable: bool,
    last_seen: Timestamp,
) -> InstanceStatus {
    let role = if leadership.is_lost() {
        InstanceRole::Follower
    } else {
        InstanceRole::Leader
    };
    InstanceStatus {
        name: name.clone(),
        role,
        last_seen,
        fencing_token: Some(leadership.fencing_token),
        store_reachable,
    }
}
