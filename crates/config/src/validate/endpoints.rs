//! Addresses that clusters listen on, checked against every other address Lifeline listens on: the
//! admin API, the load balancers and the endpoints of every cluster, its own included.
//!
//! Load balancers may share an address among themselves when their hostnames tell requests apart
//! (`listen.rs` checks that); any other two listeners on one address would fight over the socket.
//! Each clash is reported on the address that comes later in the file, naming the earlier one.

use std::net::SocketAddr;

use crate::diagnostics::Report;

/// One address Lifeline listens on, and what listens there.
pub(super) struct Endpoint {
    pub address: SocketAddr,
    pub owner: Owner,
    /// The position of the address.
    pub at: usize,
}

/// What listens on an [`Endpoint`].
pub(super) enum Owner {
    /// A load balancer; `None` when it has no name (already reported).
    LoadBalancer(Option<String>),
    /// `key` (`writer_listen` or `reader_listen`) of the `index`th cluster; `name` is `None` when
    /// it has no name (already reported).
    Cluster {
        name: Option<String>,
        index: usize,
        key: &'static str,
    },
}

// === impl Owner ===

impl Owner {
    /// The key that holds the address.
    pub(super) fn key(&self) -> &'static str {
        match self {
            Self::LoadBalancer(_) => "listen",
            Self::Cluster { key, .. } => key,
        }
    }

    fn is_load_balancer(&self) -> bool {
        matches!(self, Self::LoadBalancer(_))
    }

    /// What `self` is, as seen from `other`: "this cluster's ..." when both are of one cluster.
    fn describe(&self, other: &Owner) -> String {
        let unnamed = |name: &Option<String>| name.clone().unwrap_or_else(|| "(unnamed)".into());
        match (self, other) {
            (Self::LoadBalancer(name), _) => {
                format!("a listener of load balancer `{}`", unnamed(name))
            }
            (Self::Cluster { index, key, .. }, Self::Cluster { index: other, .. })
                if index == other =>
            {
                format!("this cluster's `{key}`")
            }
            (Self::Cluster { name, key, .. }, _) => {
                format!("the `{key}` of cluster `{}`", unnamed(name))
            }
        }
    }
}

/// Checks cluster endpoints against `[admin] listen` and every endpoint against every earlier
/// one, except two load balancers' (see `listen.rs`). Port 0 asks for any free port, so it clashes
/// with nothing.
pub(super) fn check(mut all: Vec<Endpoint>, admin: Option<SocketAddr>, report: &mut Report<'_>) {
    all.sort_by_key(|endpoint| endpoint.at);
    for (index, endpoint) in all.iter().enumerate() {
        let address = endpoint.address;
        // Load balancers were checked against the admin API in `listen.rs`.
        if !endpoint.owner.is_load_balancer() && admin == Some(address) {
            report.error(
                endpoint.at,
                format!("`{address}` is the admin API's address (`listen` in [admin])"),
            );
            continue;
        }
        if address.port() == 0 {
            continue;
        }
        let earlier = all[..index].iter().find(|other| {
            other.address == address
                && !(other.owner.is_load_balancer() && endpoint.owner.is_load_balancer())
        });
        if let Some(earlier) = earlier {
            report.error(
                endpoint.at,
                format!(
                    "`{address}` is already {} (line {})",
                    earlier.owner.describe(&endpoint.owner),
                    report.line_of(earlier.at)
                ),
            );
        }
    }
}
