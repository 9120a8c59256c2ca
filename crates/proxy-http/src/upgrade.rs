//! Protocol upgrades (WebSocket and any other `Connection: upgrade`): once the origin answered
//! 101, the client's connection and the origin's are joined and bytes copied both ways until
//! either side closes, or the listener closes what is left after draining.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use crate::lifecycle::Lifecycle;

/// Joins the two upgraded connections in a task of their own.
pub(crate) fn spawn(client: OnUpgrade, origin: OnUpgrade, mut lifecycle: Lifecycle) {
    tokio::spawn(async move {
        tokio::select! {
            () = tunnel(client, origin) => {}
            () = lifecycle.closing() => tracing::debug!("listener closed; tunnel dropped"),
        }
    });
}

async fn tunnel(client: OnUpgrade, origin: OnUpgrade) {
    let (client, origin) = match tokio::try_join!(client, origin) {
        Ok(both) => both,
        Err(err) => {
            tracing::debug!(error = %err, "upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut origin = TokioIo::new(origin);
    match tokio::io::copy_bidirectional(&mut client, &mut origin).await {
        Ok((up, down)) => tracing::debug!(up, down, "tunnel closed"),
        Err(err) => tracing::debug!(error = %err, "tunnel ended with an error"),
    }
}
