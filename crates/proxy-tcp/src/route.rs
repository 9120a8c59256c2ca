//! What an endpoint's new connections go to, and in which order a new connection tries the
//! backends: round-robin, falling through to the next one when a connect fails.

use lifeline_model::NodeName;

/// Where an endpoint's new connections go. Published by the controller through a watch
/// channel; each change is a new `Arc`.
///
/// A connection to a backend that a new route no longer has is closed at once; connections
/// to backends it keeps are untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Tried round-robin by new connections: the reader endpoint has several, the writer at
    /// most one. Empty means hold: new connections wait, up to the endpoint's `wait`, for a
    /// route with backends.
    pub backends: Vec<Backend>,
}

/// One database node as an endpoint reaches it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub node: NodeName,
    /// `host:port`.
    pub address: String,
}

// === impl Route ===

impl Route {
    pub(crate) fn is_hold(&self) -> bool {
        self.backends.is_empty()
    }

    pub(crate) fn contains(&self, backend: &Backend) -> bool {
        self.backends.contains(backend)
    }

    /// Every backend once, starting with the one whose turn it is: the endpoint counts
    /// `turn` up by one per connection.
    pub(crate) fn candidates(&self, turn: usize) -> impl Iterator<Item = &Backend> {
        let start = turn.checked_rem(self.backends.len()).unwrap_or(0);
        let (before, after) = self.backends.split_at(start);
        after.iter().chain(before)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(nodes: &[&str]) -> Route {
        Route {
            backends: nodes
                .iter()
                .map(|node| Backend {
                    node: NodeName::new(*node),
                    address: format!("{node}:5432"),
                })
                .collect(),
        }
    }

    fn order(route: &Route, turn: usize) -> Vec<&str> {
        route
            .candidates(turn)
            .map(|backend| backend.node.as_str())
            .collect()
    }

    #[test]
    fn candidates_rotate_and_cover_every_backend_once() {
        let route = route(&["a", "b", "c"]);
        assert_eq!(order(&route, 0), ["a", "b", "c"]);
        assert_eq!(order(&route, 1), ["b", "c", "a"]);
        assert_eq!(order(&route, 5), ["c", "a", "b"]);
        assert_eq!(order(&route, usize::MAX), ["a", "b", "c"]);
    }

    #[test]
    fn a_hold_has_no_candidates() {
        let hold = route(&[]);
        assert!(hold.is_hold());
        assert_eq!(order(&hold, 7), Vec::<&str>::new());
    }

    #[test]
    fn contains_compares_node_and_address() {
        let route = route(&["a"]);
        let moved = Backend {
            node: NodeName::new("a"),
            address: "elsewhere:5432".to_string(),
        };
        assert!(route.contains(&route.backends[0]));
        assert!(!route.contains(&moved));
    }
}
