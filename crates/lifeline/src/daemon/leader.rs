//! The campaign: this instance runs for leadership in the background while it serves, leads
//! until its leadership is lost, then runs again. Everything that acts only as leader watches
//! the [`Role`] this keeps current. `leader_elected` and `leadership_lost` are recorded here.

use std::sync::Arc;
use std::time::Duration;

use lifeline_model::{EventKind, InstanceName, NewEvent, Timestamp};
use lifeline_store::{Leadership, StateStore};
use tokio::sync::watch;

/// Pause before campaigning again after the store failed to answer.
const RETRY: Duration = Duration::from_secs(1);

/// How long the first campaign may take before the daemon starts as a follower: long enough to
/// win at once when nobody leads (one instance starts leading, as before there were several),
/// short enough not to hold the start while another instance leads.
const FIRST_CAMPAIGN: Duration = Duration::from_millis(500);

/// The first campaign, before anything else starts: the leadership if it was won at once, and
/// then already in `role`.
pub async fn first_campaign(
    store: &dyn StateStore,
    name: &InstanceName,
    role: &watch::Sender<Option<Leadership>>,
) -> Option<Leadership> {
    let won = tokio::time::timeout(FIRST_CAMPAIGN, store.campaign(name.as_str())).await;
    let leadership = won.ok()?.ok()?;
    role.send_replace(Some(leadership.clone()));
    Some(leadership)
}

/// Campaigns until `stop` resolves, publishing the leadership in `role` (starting from `first`,
/// the first campaign's); resigns it then, so another instance takes over at once rather than
/// a lease later.
pub async fn campaign(
    store: Arc<dyn StateStore>,
    name: InstanceName,
    role: watch::Sender<Option<Leadership>>,
    mut first: Option<Leadership>,
    stop: impl Future<Output = ()>,
) {
    let mut stop = std::pin::pin!(stop);
    let mut failing = false;
    loop {
        let won = match first.take() {
            Some(leadership) => Ok(leadership),
            None => tokio::select! {
                () = &mut stop => return,
                won = store.campaign(name.as_str()) => won,
            },
        };
        let leadership = match won {
            Ok(leadership) => leadership,
            Err(error) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(%error, "cannot campaign for leadership; trying again");
                }
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(RETRY) => continue,
                }
            }
        };
        failing = false;
        let token = leadership.fencing_token;
        role.send_replace(Some(leadership.clone()));
        record(
            store.as_ref(),
            NewEvent::new(
                Timestamp::now(),
                EventKind::LeaderElected,
                name.as_str(),
                format!("{name} leads with fencing token {token}"),
            ),
        )
        .await;
        tokio::select! {
            () = &mut stop => {
                role.send_replace(None);
                if let Err(error) = store.resign(&leadership).await {
                    tracing::warn!(%error, "could not resign the leadership; it ends with its lease");
                }
                return;
            }
            () = leadership.lost() => {}
        }
        role.send_replace(None);
        tracing::warn!(fencing_token = token, "leadership lost");
        let mut lost = NewEvent::new(
            Timestamp::now(),
            EventKind::LeadershipLost,
            name.as_str(),
            format!(
                "the leadership of fencing token {token} ended (its lease expired or was taken over): this instance stops acting and campaigns again"
            ),
        );
        lost.fencing_token = Some(token);
        record(store.as_ref(), lost).await;
    }
}

async fn record(store: &dyn StateStore, event: NewEvent) {
    if let Err(error) = store.append(event).await {
        tracing::error!(%error, "could not record event");
    }
}
