//! The instances sharing the store, as `GET /status` lists them. Each instance publishes itself
//! under `instances/<name>` on its lease (rewritten only when its role or token changes, or when
//! the key went with a lost lease), so a dead instance's entry expires with it; once a second
//! each reads them all. The leader records `instance_joined` and `instance_lost`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use lifeline_model::{EventKind, InstanceName, InstanceRole, InstanceStatus, NewEvent, Timestamp};
use lifeline_store::{Role, StateStore, StoreError, leading_token};

/// How often the store is read for the instances (and pinged for `store_reachable`).
const REFRESH: Duration = Duration::from_secs(1);
/// Where the instances publish themselves.
const PREFIX: &str = "instances/";

/// The instances `/status` lists, this one first, published for the admin API.
pub type Instances = Arc<ArcSwap<Vec<InstanceStatus>>>;

/// This instance at its start: following, the store not checked yet.
pub fn starting(name: &InstanceName, admin: &str) -> Instances {
    Arc::new(ArcSwap::from_pointee(vec![InstanceStatus {
        name: name.clone(),
        role: InstanceRole::Follower,
        admin: admin.to_owned(),
        last_seen: Timestamp::now(),
        fencing_token: None,
        store_reachable: false,
    }]))
}

/// Keeps `instances` current until `stop` resolves: at once when the role changes, and after
/// every read of the store.
pub async fn run(
    store: Arc<dyn StateStore>,
    mut role: Role,
    instances: Instances,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut tick = tokio::time::interval(REFRESH);
    let mut role_open = true;
    let mut this = instances.load()[0].clone();
    let mut published: Option<InstanceStatus> = None;
    // Names seen at the last read; `None` before the first.
    let mut known: Option<BTreeSet<InstanceName>> = None;
    let mut others: Vec<InstanceStatus> = Vec::new();
    loop {
        let read: bool = tokio::select! {
            () = &mut stop => return,
            // A new role is published at once.
            changed = role.changed(), if role_open => {
                role_open = changed.is_ok();
                true
            }
            _ = tick.tick() => true,
        };
        let token = leading_token(&role);
        this.role = if token.is_some() {
            InstanceRole::Leader
        } else {
            InstanceRole::Follower
        };
        // A follower shows the newest token it knows: the one it last led with, or the
        // leader's, read from the leader's entry.
        this.fencing_token = token.or(this.fencing_token);
        this.last_seen = Timestamp::now();
        if read {
            match refresh(store.as_ref(), &this, &mut published).await {
                Ok(listed) => {
                    this.store_reachable = true;
                    others = listed.into_iter().filter(|i| i.name != this.name).collect();
                    if token.is_none()
                        && let Some(leader) = others.iter().find(|i| i.role == InstanceRole::Leader)
                    {
                        this.fencing_token = leader.fencing_token.max(this.fencing_token);
                    }
                    for other in &mut others {
                        other.last_seen = this.last_seen;
                    }
                    // A follower adds the names it sees and forgets none, so that an
                    // instance lost just before this one leads (with the leader's lease) is
                    // still recorded, and one that joined meanwhile is not recorded again.
                    let names = others.iter().map(|i| i.name.clone());
                    match known.as_mut() {
                        None => known = Some(names.collect()),
                        Some(before) if token.is_some() => {
                            record_changes(store.as_ref(), before, &others).await;
                            known = Some(names.collect());
                        }
                        Some(before) => before.extend(names),
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "the store does not answer");
                    this.store_reachable = false;
                    // The key may go with the lease: publish again once the store answers.
                    published = None;
                }
            }
        }
        let mut all = vec![this.clone()];
        all.extend(others.iter().cloned());
        instances.store(Arc::new(all));
    }
}

/// Publishes `this` if it changed since `published` or its key is gone, and returns every
/// instance's entry.
async fn refresh(
    store: &dyn StateStore,
    this: &InstanceStatus,
    published: &mut Option<InstanceStatus>,
) -> Result<Vec<InstanceStatus>, StoreError> {
    let key = format!("{PREFIX}{}", this.name);
    let listed = store.list(PREFIX).await?;
    let present = listed.iter().any(|(k, _)| *k == key);
    let same = published
        .as_ref()
        .is_some_and(|p| p.role == this.role && p.fencing_token == this.fencing_token);
    if !present || !same {
        // Whoever reads it reads it from the store: this instance reaches it.
        let entry = InstanceStatus {
            store_reachable: true,
            ..this.clone()
        };
        let value = serde_json::to_vec(&entry).map_err(|e| StoreError::Malformed {
            key: key.clone(),
            message: e.to_string(),
        })?;
        store.put_leased(&key, value).await?;
        *published = Some(this.clone());
    }
    Ok(listed
        .into_iter()
        .filter_map(
            |(key, stored)| match serde_json::from_slice(&stored.value) {
                Ok(instance) => Some(instance),
                Err(error) => {
                    tracing::warn!(key, %error, "an instance's entry is unreadable; skipping it");
                    None
                }
            },
        )
        .collect())
}

/// `instance_joined` and `instance_lost` for the other instances that came or went.
async fn record_changes(
    store: &dyn StateStore,
    before: &BTreeSet<InstanceName>,
    now: &[InstanceStatus],
) {
    let names: BTreeSet<&InstanceName> = now.iter().map(|i| &i.name).collect();
    let joined = now.iter().filter(|i| !before.contains(&i.name));
    let lost = before.iter().filter(|name| !names.contains(name));
    let events = joined
        .map(|i| {
            let reason = format!("{} shares the store (admin API at {})", i.name, i.admin);
            (EventKind::InstanceJoined, i.name.to_string(), reason)
        })
        .chain(lost.map(|name| {
            let reason = format!("{name} stopped refreshing its lease and left the store");
            (EventKind::InstanceLost, name.to_string(), reason)
        }));
    for (kind, subject, reason) in events {
        let event = NewEvent::new(Timestamp::now(), kind, subject, reason);
        if let Err(error) = store.append(event).await {
            tracing::error!(%error, "could not record event");
        }
    }
}
