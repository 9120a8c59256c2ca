//! This instance as `GET /status` lists it: its role and fencing token from the campaign, and
//! whether it reaches the store, checked once a second.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{InstanceName, InstanceRole, InstanceStatus, Timestamp};
use lifeline_store::{Role, StateStore, leading_token};

/// How often the store is pinged for `store_reachable` and `last_seen`.
const REFRESH: Duration = Duration::from_secs(1);

/// The instances `/status` lists, published for the admin API.
pub type Instances = Arc<ArcSwap<Vec<InstanceStatus>>>;

/// This instance at its start: following, the store not checked yet.
pub fn starting(name: &InstanceName) -> Instances {
    Arc::new(ArcSwap::from_pointee(vec![InstanceStatus {
        name: name.clone(),
        role: InstanceRole::Follower,
        last_seen: Timestamp::now(),
        fencing_token: None,
        store_reachable: false,
    }]))
}

/// Keeps `instances` current until `stop` resolves: at once when the role changes, and after
/// every ping of the store.
pub async fn run(
    store: Arc<dyn StateStore>,
    name: InstanceName,
    mut role: Role,
    instances: Instances,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut tick = tokio::time::interval(REFRESH);
    let mut role_open = true;
    let mut reachable = false;
    // The last token this instance led with: a follower shows it until it leads again.
    let mut last_token = None;
    loop {
        tokio::select! {
            () = &mut stop => return,
            changed = role.changed(), if role_open => role_open = changed.is_ok(),
            _ = tick.tick() => {
                reachable = match store.ping().await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::debug!(%error, "the store does not answer");
                        false
                    }
                };
            }
        }
        let token = leading_token(&role);
        last_token = token.or(last_token);
        let current = InstanceStatus {
            name: name.clone(),
            role: if token.is_some() {
                InstanceRole::Leader
            } else {
                InstanceRole::Follower
            },
            last_seen: Timestamp::now(),
            fencing_token: last_token,
            store_reachable: reachable,
        };
        instances.store(Arc::new(vec![current]));
    }
}
