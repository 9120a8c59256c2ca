//! Protocol upgrades (WebSocket and any other `Connection: upgrade`): once the origin answered
//! 101, the client's connection and the origin's are joined and bytes copied both ways until
//! either side closes, or the listener closes what is left after draining.

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::h1::OriginConn;
use crate::lifecycle::Lifecycle;

/// The origin's side of a tunnel.
pub(crate) enum OriginUpgrade {
    /// A plain-HTTP origin's connection, with whatever it sent right after its 101.
    Plain(OriginConn),
    /// An HTTPS origin's, from hyper-util's client.
    Https(OnUpgrade),
}

/// Joins the two upgraded connections in a task of their own.
pub(crate) fn spawn(client: OnUpgrade, origin: OriginUpgrade, mut lifecycle: Lifecycle) {
    tokio::spawn(async move {
        tokio::select! {
            () = tunnel(client, origin) => {}
            () = lifecycle.closing() => tracing::debug!("listener closed; tunnel dropped"),
        }
    });
}

async fn tunnel(client: OnUpgrade, origin: OriginUpgrade) {
    let client = match client.await {
        Ok(client) => client,
        Err(err) => {
            tracing::debug!(error = %err, "client upgrade did not complete");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    match origin {
        OriginUpgrade::Plain(conn) => {
            let (mut stream, early) = conn.into_parts();
            if !early.is_empty()
                && let Err(err) = client.write_all(&early).await
            {
                tracing::debug!(error = %err, "tunnel ended with an error");
                return;
            }
            copy(&mut client, &mut stream).await;
        }
        OriginUpgrade::Https(origin) => match origin.await {
            Ok(origin) => copy(&mut client, &mut TokioIo::new(origin)).await,
            Err(err) => tracing::debug!(error = %err, "origin upgrade did not complete"),
        },
    }
}

async fn copy<A, B>(client: &mut A, origin: &mut B)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    match tokio::io::copy_bidirectional(client, origin).await {
        Ok((up, down)) => tracing::debug!(up, down, "tunnel closed"),
        Err(err) => tracing::debug!(error = %err, "tunnel ended with an error"),
    }
}
