//! What a reload does to each cluster, from the running and the new config alone: keep it,
//! restart its manager with the new settings, start it, or stop it. And the one check that
//! needs the manager's state: the primary must stay in the config, at its address.

use std::sync::Arc;

use lifeline_control::cluster::ClusterStatus;
use lifeline_model::{Cluster, NodeName};

/// What becomes of one cluster of the new config.
#[derive(Debug, PartialEq)]
pub enum Fate {
    Unchanged,
    /// Its manager restarts with the new settings; `keys` says which changed.
    Changed {
        keys: Vec<String>,
    },
    Added,
}

/// What a reload does; a running cluster the new config does not have is removed.
#[derive(Debug)]
pub struct Plan {
    /// Every cluster of the new config, in its order.
    pub clusters: Vec<(Arc<Cluster>, Fate)>,
}

pub fn plan(running: &[Arc<Cluster>], new: &[Cluster]) -> Plan {
    let clusters = new
        .iter()
        .map(|cluster| {
            let fate = match running.iter().find(|r| r.name == cluster.name) {
                None => Fate::Added,
                Some(old) if **old == *cluster => Fate::Unchanged,
                Some(old) => Fate::Changed {
                    keys: changed_keys(old, cluster),
                },
            };
            (Arc::new(cluster.clone()), fate)
        })
        .collect();
    Plan { clusters }
}

/// The `[[cluster]]` keys whose values differ, as the summary of a reload names them.
pub fn changed_keys(old: &Cluster, new: &Cluster) -> Vec<String> {
    let mut keys = Vec::new();
    let mut differs = |key: &str, changed: bool| {
        if changed {
            keys.push(key.to_string());
        }
    };
    differs("kind", old.kind != new.kind);
    differs("writer_listen", old.writer_listen != new.writer_listen);
    differs("reader_listen", old.reader_listen != new.reader_listen);
    differs(
        "sentinel_listen",
        old.sentinel_listen != new.sentinel_listen,
    );
    differs("check_interval", old.check_interval != new.check_interval);
    differs(
        "failure_threshold",
        old.failure_threshold != new.failure_threshold,
    );
    differs("rise", old.rise != new.rise);
    differs(
        "maximum_lag_on_failover",
        old.maximum_lag_on_failover != new.maximum_lag_on_failover,
    );
    differs(
        "primary_silence",
        old.primary_silence != new.primary_silence,
    );
    differs(
        "synchronous_mode",
        old.synchronous_mode != new.synchronous_mode,
    );
    differs(
        "synchronous_mode_strict",
        old.synchronous_mode_strict != new.synchronous_mode_strict,
    );
    differs("auto_failover", old.auto_failover != new.auto_failover);
    differs("writer_wait", old.writer_wait != new.writer_wait);
    differs("rejoin_command", old.rejoin_command != new.rejoin_command);
    for node in &old.nodes {
        match new.node(node.name.as_str()) {
            None => keys.push(format!("nodes[{}] removed", node.name)),
            Some(now) => {
                for (key, changed) in [
                    (now.connection.key(), now.connection != node.connection),
                    ("priority", now.priority != node.priority),
                    ("no_failover", now.no_failover != node.no_failover),
                ] {
                    if changed {
                        keys.push(format!("nodes[{}].{key}", node.name));
                    }
                }
            }
        }
    }
    for node in new
        .nodes
        .iter()
        .filter(|n| old.node(n.name.as_str()).is_none())
    {
        keys.push(format!("nodes[{}] added", node.name));
    }
    let order_changed = old
        .nodes
        .iter()
        .map(|n| &n.name)
        .filter(|n| new.node(n.as_str()).is_some())
        .ne(new
            .nodes
            .iter()
            .map(|n| &n.name)
            .filter(|n| old.node(n.as_str()).is_some()));
    if order_changed {
        keys.push("nodes (their order)".to_string());
    }
    if keys.is_empty() {
        // A setting this list does not know yet.
        keys.push("settings".to_string());
    }
    keys
}

/// Whether the manager of `status`, running `old`, may hand over to one running `new`: the
/// node it knows as primary must stay, at the same address, or the writer's connections would
/// go with it.
pub fn keeps_primary(old: &Cluster, new: &Cluster, status: &ClusterStatus) -> Result<(), String> {
    let Some(primary) = status.primary.as_ref() else {
        return Ok(());
    };
    let was = old.node(primary.as_str()).map(|n| n.address());
    match new.node(primary.as_str()) {
        None => Err(format!(
            "nodes[{primary}] is the primary and cannot be removed by a reload; switch over to another node first"
        )),
        Some(node) if was.is_some_and(|was| was != node.address()) => Err(format!(
            "nodes[{primary}].{} moves the primary to {}; a reload cannot move the primary (switch over to another node first)",
            node.connection.key(),
            node.address()
        )),
        Some(_) => Ok(()),
    }
}

/// The names of `old`'s nodes that `new` no longer has.
pub fn removed_nodes(old: &Cluster, new: &Cluster) -> Vec<NodeName> {
    old.nodes
        .iter()
        .filter(|n| new.node(n.name.as_str()).is_none())
        .map(|n| n.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lifeline_control::cluster::{ClusterRecord, ClusterState};
    use lifeline_model::{ClusterKind, ClusterName, ClusterNode, NodeConnection, PgDsn};

    use super::*;

    fn node(name: &str, port: u16) -> ClusterNode {
        ClusterNode {
            name: NodeName::new(name),
            connection: NodeConnection::Postgres(
                PgDsn::parse(&format!(
                    "host=127.0.0.1 port={port} user=lifeline password=s3cret"
                ))
                .unwrap(),
            ),
            priority: 0,
            no_failover: false,
        }
    }

    fn cluster(name: &str) -> Cluster {
        Cluster {
            name: ClusterName::new(name),
            kind: ClusterKind::Postgres,
            nodes: vec![node("pg1", 5433), node("pg2", 5434), node("pg3", 5435)],
            writer_listen: None,
            reader_listen: None,
            sentinel_listen: None,
            check_interval: Duration::from_secs(1),
            failure_threshold: 3,
            rise: 2,
            maximum_lag_on_failover: 1024 * 1024,
            primary_silence: Duration::from_secs(3),
            synchronous_mode: false,
            synchronous_mode_strict: false,
            auto_failover: true,
            writer_wait: Duration::from_secs(10),
            rejoin_command: None,
        }
    }

    fn status(cluster: &Cluster, primary: Option<&str>) -> ClusterStatus {
        let record = ClusterRecord {
            primary: primary.map(NodeName::new),
            ..ClusterRecord::default()
        };
        ClusterStatus::of(
            &ClusterState::new(Arc::new(cluster.clone()), record),
            0,
            None,
        )
    }

    #[test]
    fn each_cluster_is_kept_restarted_or_added() {
        let running = [
            Arc::new(cluster("same")),
            Arc::new(cluster("tuned")),
            Arc::new(cluster("gone")),
        ];
        let mut tuned = cluster("tuned");
        tuned.failure_threshold = 5;
        let plan = plan(&running, &[cluster("new"), tuned, cluster("same")]);
        let fates: Vec<(&str, &Fate)> = plan
            .clusters
            .iter()
            .map(|(c, fate)| (c.name.as_str(), fate))
            .collect();
        assert_eq!(
            fates,
            [
                ("new", &Fate::Added),
                (
                    "tuned",
                    &Fate::Changed {
                        keys: vec!["failure_threshold".to_string()]
                    }
                ),
                ("same", &Fate::Unchanged),
            ]
        );
    }

    #[test]
    fn the_changed_keys_name_settings_and_nodes() {
        let old = cluster("main");
        let mut new = cluster("main");
        new.writer_wait = Duration::from_secs(1);
        new.synchronous_mode = true;
        new.nodes.remove(2);
        new.nodes[1].priority = 7;
        new.nodes.push(node("pg4", 5436));
        assert_eq!(
            changed_keys(&old, &new),
            [
                "synchronous_mode",
                "writer_wait",
                "nodes[pg2].priority",
                "nodes[pg3] removed",
                "nodes[pg4] added"
            ]
        );
        assert_eq!(removed_nodes(&old, &new), [NodeName::new("pg3")]);
    }

    #[test]
    fn a_changed_password_and_a_new_node_order_are_changes() {
        let old = cluster("main");
        let mut new = cluster("main");
        new.nodes[0].connection = NodeConnection::Postgres(
            PgDsn::parse("host=127.0.0.1 port=5433 user=lifeline password=other").unwrap(),
        );
        new.nodes.swap(1, 2);
        let keys = changed_keys(&old, &new);
        assert_eq!(keys, ["nodes[pg1].dsn", "nodes (their order)"]);
        assert!(
            keys.iter()
                .all(|k| !k.contains("s3cret") && !k.contains("other"))
        );
    }

    #[test]
    fn the_primary_must_stay_at_its_address() {
        let old = cluster("main");
        let mut without = cluster("main");
        without.nodes.remove(0);
        let why = keeps_primary(&old, &without, &status(&old, Some("pg1"))).unwrap_err();
        assert!(why.starts_with("nodes[pg1] is the primary"), "{why}");
        assert_eq!(
            keeps_primary(&old, &without, &status(&old, Some("pg2"))),
            Ok(())
        );
        assert_eq!(keeps_primary(&old, &without, &status(&old, None)), Ok(()));

        let mut moved = cluster("main");
        moved.nodes[0].connection = NodeConnection::Postgres(
            PgDsn::parse("host=127.0.0.1 port=6000 user=lifeline").unwrap(),
        );
        let why = keeps_primary(&old, &moved, &status(&old, Some("pg1"))).unwrap_err();
        assert!(why.contains("moves the primary to 127.0.0.1:6000"), "{why}");
        // A new password for the primary keeps its address, and its connections.
        let mut password = cluster("main");
        password.nodes[0].connection = NodeConnection::Postgres(
            PgDsn::parse("host=127.0.0.1 port=5433 user=lifeline password=new").unwrap(),
        );
        assert_eq!(
            keeps_primary(&old, &password, &status(&old, Some("pg1"))),
            Ok(())
        );
    }
}
