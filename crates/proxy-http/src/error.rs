//! Why one attempt on an origin failed, as a small `Copy` kind.
//!
//! The kind alone decides whether a request may be retried, which status the client gets (502 or
//! 504), the `kind` label of `lifeline_http_errors_total` and the failure an ejection reports. No
//! boxing or formatting happens when an attempt fails; text is made only for the rare ejection.

use lifeline_model::FailureKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// No connection (refused, reset while connecting, DNS, TLS handshake): the request never
    /// left the proxy.
    Connect,
    /// No response headers within the load balancer's `try_timeout`.
    Timeout,
    /// The origin broke the exchange: invalid response, or the connection closed before the
    /// response headers.
    Protocol,
    /// The origin answered 5xx. Counted against the origin, but the answer goes to the client
    /// and is never retried.
    Status5xx,
    /// The proxy itself could not make the attempt: it is out of file descriptors, sockets or
    /// memory. Never counted against the origin; the client gets 503.
    Local,
}

impl ErrorKind {
    pub(crate) const COUNT: usize = 5;

    /// The metric label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status5xx => "status",
            ErrorKind::Local => "local",
        }
    }

    /// Position in per-kind arrays, below [`ErrorKind::COUNT`].
    pub(crate) fn index(self) -> usize {
        match self {
            ErrorKind::Connect => 0,
            ErrorKind::Timeout => 1,
            ErrorKind::Protocol => 2,
            ErrorKind::Status5xx => 3,
            ErrorKind::Local => 4,
        }
    }

    /// Whether the request provably never reached the origin, so that even a non-idempotent one
    /// may go to the next origin.
    pub(crate) fn never_sent(self) -> bool {
        matches!(self, ErrorKind::Connect | ErrorKind::Local)
    }

    /// Whether the failure says something about the origin (passive health counts it).
    pub(crate) fn blames_origin(self) -> bool {
        !matches!(self, ErrorKind::Local)
    }

    /// The kind an ejection reports to the controller (never [`ErrorKind::Local`], which does
    /// not count against an origin).
    pub(crate) fn failure_kind(self) -> FailureKind {
        match self {
            ErrorKind::Connect | ErrorKind::Local => FailureKind::Connect,
            ErrorKind::Timeout => FailureKind::Timeout,
            ErrorKind::Protocol => FailureKind::Protocol,
            ErrorKind::Status5xx => FailureKind::Status,
        }
    }

    /// Classifies an error of the origin client.
    pub(crate) fn of_client_error(error: &hyper_util::client::legacy::Error) -> Self {
        if error.is_connect() {
            Self::of_connect_error(error)
        } else {
            ErrorKind::Protocol
        }
    }

    /// Classifies a failure to connect: the proxy's own shortage, or the origin's failure.
    pub(crate) fn of_connect_error(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut source = Some(error);
        while let Some(error) = source {
            if let Some(io) = error.downcast_ref::<std::io::Error>()
                && is_exhaustion(io)
            {
                return ErrorKind::Local;
            }
            source = error.source();
        }
        ErrorKind::Connect
    }
}

/// An I/O error that says this process is short of descriptors, sockets or memory.
pub(crate) fn is_exhaustion(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::OutOfMemory
        || matches!(
            error.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortage_of_descriptors_is_the_proxys_own_failure() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(ErrorKind::of_connect_error(&emfile), ErrorKind::Local);
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(ErrorKind::of_connect_error(&refused), ErrorKind::Connect);
        assert!(!ErrorKind::Local.blames_origin());
        assert!(ErrorKind::Connect.blames_origin());
    }

    #[test]
    fn only_connect_errors_prove_the_request_was_not_sent() {
        let all = [
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::Protocol,
            ErrorKind::Status5xx,
            ErrorKind::Local,
        ];
        let unsent: Vec<_> = all.into_iter().filter(|kind| kind.never_sent()).collect();
        assert_eq!(unsent, [ErrorKind::Connect, ErrorKind::Local]);
        let mut indices: Vec<_> = all.iter().map(|kind| kind.index()).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..ErrorKind::COUNT).collect::<Vec<_>>());
    }
}
