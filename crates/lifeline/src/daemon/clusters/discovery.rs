//! A Redis cluster's Sentinel-compatible listener is fed from the same routes as its writer
//! and reader endpoints: the writer's node is the master, the reader's nodes are the healthy
//! replicas, and every other node is a replica that is down.

use std::sync::Arc;

use lifeline_model::{Cluster, NodeName};
use lifeline_proxy_tcp::Route;
use lifeline_redis::sentinel::{Address, Discovery, ReplicaState};
use tokio::sync::watch;

/// The nodes a listener announces, by name and address, and how long a master may fail
/// before it counts as down.
#[derive(Clone, Debug, PartialEq)]
pub struct Announced {
    pub nodes: Vec<(NodeName, String)>,
    pub down_after_ms: u64,
}

impl Announced {
    pub fn of(cluster: &Cluster) -> Self {
        let down_after = cluster.check_interval * cluster.failure_threshold;
        Self {
            nodes: cluster
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.address()))
                .collect(),
            down_after_ms: u64::try_from(down_after.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

/// Keeps `out` in line with the routes and the announced nodes, until they stop or the
/// listener does.
pub async fn feed(
    mut writer: watch::Receiver<Arc<Route>>,
    mut reader: watch::Receiver<Arc<Route>>,
    mut announced: watch::Receiver<Announced>,
    out: watch::Sender<Discovery>,
) {
    let mut last_master = None;
    loop {
        let view = discovery(
            &writer.borrow_and_update(),
            &reader.borrow_and_update(),
            &announced.borrow_and_update(),
            &mut last_master,
        );
        out.send_if_modified(|current| {
            let changed = *current != view;
            *current = view;
            changed
        });
        tokio::select! {
            changed = writer.changed() => if changed.is_err() { return },
            changed = reader.changed() => if changed.is_err() { return },
            changed = announced.changed() => if changed.is_err() { return },
            () = out.closed() => return,
        }
    }
}

/// What the routes say, `last_master` remembering the master through a failover's hold.
fn discovery(
    writer: &Route,
    reader: &Route,
    announced: &Announced,
    last_master: &mut Option<(NodeName, Address)>,
) -> Discovery {
    let master = writer
        .backends
        .first()
        .and_then(|b| Some((b.node.clone(), Address::parse(&b.address)?)));
    if master.is_some() {
        last_master.clone_from(&master);
    }
    let master_name = last_master.as_ref().map(|(name, _)| name);
    let replicas = announced
        .nodes
        .iter()
        .filter(|(name, _)| Some(name) != master_name)
        .filter_map(|(name, address)| {
            Some(ReplicaState {
                address: Address::parse(address)?,
                healthy: reader.backends.iter().any(|b| &b.node == name),
            })
        })
        .collect();
    Discovery {
        master: master.map(|(_, address)| address),
        last_master: last_master.as_ref().map(|(_, address)| address.clone()),
        replicas,
        down_after_ms: announced.down_after_ms,
    }
}

#[cfg(test)]
mod tests {
    use lifeline_proxy_tcp::Backend;

    use super::*;

    fn route(nodes: &[(&str, &str)]) -> Route {
        Route {
            backends: nodes
                .iter()
                .map(|(node, address)| Backend {
                    node: NodeName::new(*node),
                    address: address.to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_writer_is_the_master_and_the_readers_the_healthy_replicas() {
        let announced = Announced {
            nodes: [("r1", "h:1"), ("r2", "h:2"), ("r3", "h:3")]
                .iter()
                .map(|(n, a)| (NodeName::new(*n), a.to_string()))
                .collect(),
            down_after_ms: 3000,
        };
        let mut last = None;
        let view = discovery(
            &route(&[("r1", "h:1")]),
            &route(&[("r2", "h:2")]),
            &announced,
            &mut last,
        );
        assert_eq!(view.master.as_ref().unwrap().port, 1);
        let replicas: Vec<(u16, bool)> = view
            .replicas
            .iter()
            .map(|r| (r.address.port, r.healthy))
            .collect();
        assert_eq!(replicas, [(2, true), (3, false)]);
        // A failover holds the writer: the last master is still announced, as down.
        let held = discovery(&route(&[]), &route(&[("r2", "h:2")]), &announced, &mut last);
        assert_eq!(held.master, None);
        assert_eq!(held.announced().unwrap().port, 1);
        assert_eq!(held.replicas.len(), 2);
    }
}
