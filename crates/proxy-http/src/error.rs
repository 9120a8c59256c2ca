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
}

impl ErrorKind {
    pub(crate) const COUNT: usize = 4;

    /// The metric label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Status5xx => "status",
        }
    }

    /// Position in per-kind arrays, below [`ErrorKind::COUNT`].
    pub(crate) fn index(self) -> usize {
        match self {
            ErrorKind::Connect => 0,
            ErrorKind::Timeout => 1,
            ErrorKind::Protocol => 2,
            ErrorKind::Status5xx => 3,
        }
    }

    /// Whether the request provably never reached the origin, so that even a non-idempotent one
    /// may go to the next origin.
    pub(crate) fn never_sent(self) -> bool {
        matches!(self, ErrorKind::Connect)
    }

    /// The kind an ejection reports to the controller.
    pub(crate) fn failure_kind(self) -> FailureKind {
        match self {
            ErrorKind::Connect => FailureKind::Connect,
            ErrorKind::Timeout => FailureKind::Timeout,
            ErrorKind::Protocol => FailureKind::Protocol,
            ErrorKind::Status5xx => FailureKind::Status,
        }
    }

    /// Classifies an error of the origin client.
    pub(crate) fn of_client_error(error: &hyper_util::client::legacy::Error) -> Self {
        if error.is_connect() {
            ErrorKind::Connect
        } else {
            ErrorKind::Protocol
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connect_errors_prove_the_request_was_not_sent() {
        let all = [
            ErrorKind::Connect,
            ErrorKind::Timeout,
            ErrorKind::Protocol,
            ErrorKind::Status5xx,
        ];
        let unsent: Vec<_> = all.into_iter().filter(|kind| kind.never_sent()).collect();
        assert_eq!(unsent, [ErrorKind::Connect]);
        let mut indices: Vec<_> = all.iter().map(|kind| kind.index()).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..ErrorKind::COUNT).collect::<Vec<_>>());
    }
}
