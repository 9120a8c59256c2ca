//! `lifeline doctor -c FILE`: the preflight of every node of every `[[cluster]]`, printed for
//! people, grouped by cluster and node. Exit 0 when nothing was found, 1 with findings, 2 for a
//! config that does not load (as `check` and `run`).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use lifeline_config::{Loaded, ProcessEnv};
use lifeline_model::{ClusterName, Finding, NodeName};

use crate::drivers::driver;

/// How long each node gets to answer: a person is waiting.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn run(path: &Path) -> ExitCode {
    let topology = match lifeline_config::load(path, &ProcessEnv) {
        Ok(Loaded { topology, warnings }) => {
            for warning in &warnings {
                eprintln!("{warning}");
            }
            topology
        }
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            return ExitCode::from(2);
        }
    };
    let mut checked = Vec::new();
    for cluster in &topology.clusters {
        let findings = driver(cluster.kind)
            .preflight(&cluster.nodes, cluster.check_interval, NODE_TIMEOUT)
            .await;
        checked.push(Checked {
            cluster: cluster.name.clone(),
            nodes: cluster.nodes.iter().map(|node| node.name.clone()).collect(),
            findings,
        });
    }
    print!("{}", render(&checked));
    if checked.iter().all(|c| c.findings.is_empty()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One cluster's nodes, in order, and what was found on them.
struct Checked {
    cluster: ClusterName,
    nodes: Vec<NodeName>,
    findings: Vec<Finding>,
}

/// Each cluster, each of its nodes with its findings (problem, then fix), and a summary line.
fn render(checked: &[Checked]) -> String {
    if checked.is_empty() {
        return "no [[cluster]] to check\n".to_string();
    }
    let mut out = String::new();
    let (mut total, mut nodes_with) = (0, 0);
    for Checked {
        cluster,
        nodes,
        findings,
    } in checked
    {
        out.push_str(&format!("cluster {cluster}\n"));
        for node in nodes {
            let mine: Vec<&Finding> = findings.iter().filter(|f| f.node == *node).collect();
            if mine.is_empty() {
                out.push_str(&format!("  {node}: ok\n"));
                continue;
            }
            nodes_with += 1;
            total += mine.len();
            out.push_str(&format!("  {node}:\n"));
            for finding in mine {
                out.push_str(&format!("    [{}] {}\n", finding.code, finding.problem));
                out.push_str(&format!("      fix: {}\n", finding.fix));
            }
        }
    }
    let clusters = checked.len();
    out.push_str(&if total == 0 {
        format!("no findings: every node of {clusters} cluster(s) is ready for failover\n")
    } else {
        format!("{total} finding(s) on {nodes_with} node(s) of {clusters} cluster(s)\n")
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_findings_by_cluster_and_node() {
        let (pg1, pg2) = (NodeName::new("pg1"), NodeName::new("pg2"));
        let checked = [
            Checked {
                cluster: ClusterName::new("main"),
                nodes: vec![pg1.clone(), pg2.clone()],
                findings: vec![
                    Finding::new(&pg2, "a_code", "a problem", "a fix"),
                    Finding::new(&pg2, "b_code", "b problem", "b fix"),
                ],
            },
            Checked {
                cluster: ClusterName::new("other"),
                nodes: vec![pg1],
                findings: Vec::new(),
            },
        ];
        assert_eq!(
            render(&checked),
            "cluster main\n  pg1: ok\n  pg2:\n    [a_code] a problem\n      fix: a fix\n    \
             [b_code] b problem\n      fix: b fix\ncluster other\n  pg1: ok\n2 finding(s) on 1 \
             node(s) of 2 cluster(s)\n"
        );
        assert_eq!(
            render(&checked[1..]),
            "cluster other\n  pg1: ok\nno findings: every node of 1 cluster(s) is ready for \
             failover\n"
        );
        assert_eq!(render(&[]), "no [[cluster]] to check\n");
    }
}
