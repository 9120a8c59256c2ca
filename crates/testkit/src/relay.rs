//! A TCP relay the test controls: Lifeline reaches a node through it, and the test can cut it
//! to break only Lifeline's link while the node (and its replication) stays up.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Forwards `127.0.0.1:port` to `target` until cut or dropped.
pub struct Relay {
    pub port: u16,
    cut: watch::Sender<bool>,
}

impl Relay {
    pub async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the relay");
        let port = listener.local_addr().expect("relay address").port();
        let (cut, cut_rx) = watch::channel(false);
        let target = Arc::new(target);
        tokio::spawn(async move {
            let mut stop = cut_rx.clone();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { return };
                        let (target, mut cut) = (target.clone(), cut_rx.clone());
                        tokio::spawn(async move {
                            let Ok(mut server) = TcpStream::connect(target.as_str()).await else { return };
                            let mut client = client;
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = cut.wait_for(|cut| *cut) => {}
                            }
                        });
                    }
                    _ = stop.wait_for(|cut| *cut) => return,
                }
            }
        });
        Self { port, cut }
    }

    /// Closes the relay's port and every connection through it.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut.send_replace(true);
    }
}
