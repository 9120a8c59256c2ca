//! `tcp` checks: a connection made within the timeout is a success.

use lifeline_model::{CheckFailure, FailureKind, HostPort, Origin, OriginName};
use tokio::net::TcpStream;

use crate::failure::one_line;
use crate::probe::{CheckFuture, Probe, observe};

/// One origin's tcp check. The connection is closed as soon as it is made.
pub(crate) struct TcpProbe {
    origin: OriginName,
    address: HostPort,
}

impl TcpProbe {
    pub(crate) fn new(origin: &Origin) -> Self {
        Self {
            origin: origin.name.clone(),
            address: origin.address.clone(),
        }
    }
}

impl Probe for TcpProbe {
    fn origin(&self) -> &OriginName {
        &self.origin
    }

    fn check(&mut self) -> CheckFuture<'_> {
        Box::pin(observe(self.origin.clone(), async {
            let address = (self.address.host.as_str(), self.address.port);
            let outcome = match TcpStream::connect(address).await {
                Ok(_stream) => Ok(()),
                Err(err) => Err(CheckFailure::new(
                    FailureKind::Connect,
                    one_line(&format!("connect to {}: {err}", self.address)),
                )),
            };
            (outcome, None)
        }))
    }
}
