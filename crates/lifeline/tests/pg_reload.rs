//! Reloading `[[cluster]]` on a real cluster: thresholds and nodes change under open writer
//! and reader connections, which keep working; what cannot change live is refused by name,
//! and then nothing changes.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::pg::Setup;
use lifeline_testkit::daemon::TOKEN;
use lifeline_testkit::pg::{PgCluster, PgOptions};
use lifeline_testkit::ports::free_port;
use lifeline_testkit::wait;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls};

fn three_nodes() -> PgOptions {
    PgOptions {
        standbys: 2,
        ..PgOptions::default()
    }
}

/// One client connection through an endpoint, and where it landed.
struct Session {
    client: Arc<Client>,
    /// `pg_backend_pid()`: the same one later means the same connection.
    pid: i32,
    /// `inet_server_port()`: which node serves it.
    port: u16,
}

impl Session {
    async fn open(dsn: &str) -> Self {
        let (client, connection) = tokio_postgres::connect(dsn, NoTls).await.unwrap();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                eprintln!("session ended: {error}");
            }
        });
        let (pid, port) = where_served(&client).await.unwrap();
        Self {
            client: Arc::new(client),
            pid,
            port,
        }
    }

    /// Answers a query on the same server backend as when it was opened.
    async fn assert_same_connection(&self, what: &str) {
        let (pid, port) = where_served(&self.client)
            .await
            .unwrap_or_else(|error| panic!("{what}: the connection broke: {error}"));
        assert_eq!((pid, port), (self.pid, self.port), "{what}");
    }
}

async fn where_served(client: &Client) -> Result<(i32, u16), tokio_postgres::Error> {
    let row = client
        .query_one("SELECT pg_backend_pid(), inet_server_port()", &[])
        .await?;
    let port: i32 = row.get(1);
    Ok((row.get(0), u16::try_from(port).unwrap()))
}

/// Waits until `client`'s connection has been closed under it.
async fn closed(client: &Client, what: &str) {
    wait::until(
        &format!("{what} to close"),
        Duration::from_secs(5),
        || async { where_served(client).await.is_err().then_some(()) },
    )
    .await;
}

/// Waits until nothing accepts connections at `dsn` any more.
async fn refused(dsn: &str, what: &str) {
    wait::until(
        &format!("{what} to close"),
        Duration::from_secs(5),
        || async {
            tokio_postgres::connect(dsn, NoTls)
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
}

/// Inserts through one writer connection without pause until stopped; the first error ends it.
struct Load {
    done: Arc<AtomicU64>,
    task: JoinHandle<Result<u64, String>>,
}

impl Load {
    async fn start(session: &Session) -> Self {
        session
            .client
            .batch_execute("CREATE TABLE reload_load (id bigint PRIMARY KEY)")
            .await
            .unwrap();
        let (client, done) = (session.client.clone(), Arc::new(AtomicU64::new(0)));
        let counter = done.clone();
        let task = tokio::spawn(async move {
            loop {
                let id = i64::try_from(counter.load(Ordering::SeqCst)).unwrap();
                client
                    .execute("INSERT INTO reload_load VALUES ($1)", &[&id])
                    .await
                    .map_err(|error| format!("insert {id} failed: {error}"))?;
                counter.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self { done, task }
    }

    /// Waits until more inserts than now have been acknowledged: the load goes on.
    async fn assert_progress(&self, what: &str) {
        let now = self.done.load(Ordering::SeqCst);
        wait::until(what, Duration::from_secs(5), || async {
            if self.task.is_finished() {
                panic!("{what}: the load stopped");
            }
            (self.done.load(Ordering::SeqCst) > now + 20).then_some(())
        })
        .await;
    }

    async fn stop(self) -> u64 {
        assert!(!self.task.is_finished(), "the load stopped early");
        self.task.abort();
        assert!(self.task.await.unwrap_err().is_cancelled());
        self.done.load(Ordering::SeqCst)
    }
}

fn node_names(cluster: &Value) -> Vec<String> {
    cluster["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect()
}

/// Lifeline's own sessions on a node (its checks keep one open).
fn lifeline_sessions(setup: &Setup, node: &str) -> usize {
    setup
        .cluster
        .node(node)
        .psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'lifeline'")
        .trim()
        .parse()
        .unwrap()
}

async fn reload(setup: &Setup, nodes: &[&str], extra: &str) -> (u16, Value) {
    setup.daemon.write_config(&setup.config(nodes, extra));
    setup.daemon.post("/reload", Some(TOKEN)).await
}

#[tokio::test]
async fn a_reload_changes_thresholds_and_nodes_while_writer_and_reader_connections_keep_working() {
    let setup = Setup::start(three_nodes(), "failure_threshold = 3").await;
    let writer = Session::open(&setup.writer_dsn()).await;
    assert_eq!(writer.port, setup.cluster.node("pg1").port);
    // Round-robin: two reader connections, one on each standby.
    let readers = [
        Session::open(&setup.reader_dsn()).await,
        Session::open(&setup.reader_dsn()).await,
    ];
    let on = |node: &str| {
        let port = setup.cluster.node(node).port;
        readers.iter().find(|r| r.port == port).unwrap()
    };
    let (on_pg2, on_pg3) = (on("pg2"), on("pg3"));
    let load = Load::start(&writer).await;
    load.assert_progress("writes before the reloads").await;
    wait::until("pg3 to be checked", Duration::from_secs(5), || async {
        (lifeline_sessions(&setup, "pg3") > 0).then_some(())
    })
    .await;
    let metric = "failover_standby_healthy{cluster=\"main\",standby=\"pg3\"}";
    assert!(common::metrics_text(&setup.daemon).await.contains(metric));
    let before = setup.status().await;

    // A new failure threshold, and pg3 leaves the cluster.
    let (code, body) = reload(&setup, &["pg1", "pg2"], "failure_threshold = 5").await;
    assert_eq!(code, 200, "{body}");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("cluster main reloaded: failure_threshold, nodes[pg3] removed"),
        "{summary}"
    );
    let status = setup.status().await;
    assert_eq!(status["settings"]["failure_threshold"], 5, "{status}");
    assert_eq!(node_names(&status), ["pg1", "pg2"]);
    let (_, everything) = setup.daemon.get("/status").await;
    assert_eq!(node_names(&everything["clusters"][0]), ["pg1", "pg2"]);
    assert_eq!(status["writer"], "pg1", "{status}");
    assert_eq!(status["epoch"], before["epoch"]);
    assert_eq!(status["readers"], serde_json::json!(["pg2"]), "{status}");
    wait::until(
        "pg3 to be no longer checked",
        Duration::from_secs(5),
        || async { (lifeline_sessions(&setup, "pg3") == 0).then_some(()) },
    )
    .await;
    assert!(lifeline_sessions(&setup, "pg1") > 0);
    assert!(!common::metrics_text(&setup.daemon).await.contains(metric));
    writer
        .assert_same_connection("the writer after pg3 left")
        .await;
    on_pg2
        .assert_same_connection("pg2's reader after pg3 left")
        .await;
    // A node no longer in the cluster serves no reads through its endpoint.
    closed(&on_pg3.client, "pg3's reader connection").await;
    load.assert_progress("writes after pg3 left").await;

    // pg3 comes back, and pg2 gets a priority.
    let nodes = setup
        .config(&["pg1", "pg2", "pg3"], "failure_threshold = 5")
        .replace("name = \"pg2\",", "name = \"pg2\", priority = 7,");
    setup.daemon.write_config(&nodes);
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    let summary = body["summary"].as_str().unwrap();
    assert!(
        summary.contains("cluster main reloaded: nodes[pg2].priority, nodes[pg3] added"),
        "{summary}"
    );
    let status = setup.wait_state("healthy", Duration::from_secs(10)).await;
    assert_eq!(node_names(&status), ["pg1", "pg2", "pg3"]);
    assert_eq!(status["nodes"][1]["priority"], 7, "{status}");
    assert_eq!(status["nodes"][2]["role"], "standby", "{status}");
    assert_eq!(status["settings"]["failure_threshold"], 5);
    assert!(lifeline_sessions(&setup, "pg3") > 0);
    writer
        .assert_same_connection("the writer after pg3 came back")
        .await;
    on_pg2
        .assert_same_connection("pg2's reader after pg3 came back")
        .await;
    load.assert_progress("writes after pg3 came back").await;

    let written = load.stop().await;
    assert!(setup.events("failover_started").await.is_empty());
    let reloads = setup.events("config_reloaded").await;
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    println!("{written} inserts on one writer connection across two cluster reloads");
}

#[tokio::test]
async fn a_reload_that_removes_or_moves_the_primary_is_refused_by_key_and_changes_nothing() {
    let setup = Setup::start(three_nodes(), "failure_threshold = 3").await;
    let writer = Session::open(&setup.writer_dsn()).await;
    let before = setup.status().await;

    let (code, body) = reload(&setup, &["pg2", "pg3"], "failure_threshold = 5").await;
    assert_eq!(code, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(
        errors.contains("[[cluster]] main: nodes[pg1] is the primary and cannot be removed"),
        "{errors}"
    );

    let pg1 = setup.cluster.node("pg1").port;
    let moved = setup
        .config(&["pg1", "pg2", "pg3"], "failure_threshold = 5")
        .replacen(&format!("port={pg1}"), &format!("port={}", free_port()), 1);
    setup.daemon.write_config(&moved);
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(
        errors.contains("[[cluster]] main: nodes[pg1].dsn moves the primary to"),
        "{errors}"
    );

    let path = setup.daemon.config_path.display().to_string();
    let rejected = common::wait_events(&setup.daemon, "config_rejected", &path, 2).await;
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    let status = setup.status().await;
    assert_eq!(status["settings"]["failure_threshold"], 3, "{status}");
    assert_eq!(node_names(&status), ["pg1", "pg2", "pg3"]);
    assert_eq!(status["writer"], "pg1");
    assert_eq!(status["epoch"], before["epoch"]);
    // The manager never stopped: it goes on checking.
    let checked = |status: &Value| status["nodes"][0]["last_health_check"].clone();
    let last = checked(&status);
    wait::until("another check of pg1", Duration::from_secs(5), || async {
        (checked(&setup.status().await) != last).then_some(())
    })
    .await;
    writer
        .assert_same_connection("the writer after the refusals")
        .await;
    assert!(setup.events("config_reloaded").await.is_empty());
}

#[tokio::test]
async fn a_new_writer_listen_moves_the_writer_endpoint_and_a_taken_one_is_refused() {
    let setup = Setup::start(three_nodes(), "").await;
    let old = Session::open(&setup.writer_dsn()).await;
    let reader = Session::open(&setup.reader_dsn()).await;

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let config = setup.config(&["pg1", "pg2", "pg3"], "");
    let writer_listen = format!("writer_listen = \"127.0.0.1:{}\"", setup.writer_port);
    setup.daemon.write_config(&config.replace(
        &writer_listen,
        &format!("writer_listen = \"127.0.0.1:{taken_port}\""),
    ));
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(
        errors.contains(&format!("cannot listen on 127.0.0.1:{taken_port} for the writer endpoint of cluster main (writer_listen)")),
        "{errors}"
    );
    old.assert_same_connection("the writer after the refusal")
        .await;

    let port = free_port();
    setup.daemon.write_config(&config.replace(
        &writer_listen,
        &format!("writer_listen = \"127.0.0.1:{port}\""),
    ));
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("cluster main reloaded: writer_listen"),
        "{body}"
    );
    let moved = setup.writer_dsn().replace(
        &format!("port={}", setup.writer_port),
        &format!("port={port}"),
    );
    let new = Session::open(&moved).await;
    assert_eq!(new.port, setup.cluster.node("pg1").port);
    // The old address is gone, and the connections it had with it; the reader's stay.
    closed(&old.client, "the writer connection to the old address").await;
    let old_dsn = setup.writer_dsn();
    refused(&old_dsn, "the old writer address").await;
    reader
        .assert_same_connection("the reader after the writer moved")
        .await;
    drop(taken);
}

#[tokio::test]
async fn a_reload_while_the_rejoin_command_runs_is_refused_and_changes_nothing() {
    let marker = tempfile::tempdir().unwrap();
    let started = marker.path().join("rejoin-started");
    let extra = format!(
        "rejoin_command = \"touch {} && sleep 20\"",
        started.display()
    );
    let setup = Setup::start(three_nodes(), &extra).await;
    setup.cluster.primary().kill9();
    let promoted = setup.wait_promoted(0, Duration::from_secs(20)).await;
    // The old primary comes back writable: the rejoin command runs for it.
    setup.cluster.primary().start();
    wait::until(
        "the rejoin command to start",
        Duration::from_secs(20),
        || async { started.exists().then_some(()) },
    )
    .await;

    let (code, body) = reload(
        &setup,
        &["pg1", "pg2", "pg3"],
        &format!("{extra}\nfailure_threshold = 5"),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let errors = body["errors"].to_string();
    assert!(
        errors.contains(
            "[[cluster]] main: the rejoin command is running; reload again when it is done"
        ),
        "{errors}"
    );
    let status = setup.status().await;
    assert_eq!(status["settings"]["failure_threshold"], 3, "{status}");
    assert_eq!(status["primary"], promoted["primary"]);
    assert_eq!(status["state"], "recovery_in_progress", "{status}");
}

#[tokio::test]
async fn a_reload_adds_and_removes_a_whole_cluster_beside_a_running_one() {
    let other = PgCluster::start(1);
    let setup = Setup::start(three_nodes(), "").await;
    let main_writer = Session::open(&setup.writer_dsn()).await;
    let other_port = free_port();
    let main_config = setup.config(&["pg1", "pg2", "pg3"], "");
    let other_section = format!(
        r#"
[[cluster]]
name = "other"
kind = "postgres"
nodes = [
  {{ name = "o1", dsn = "host=127.0.0.1 port={} user=lifeline password={password} dbname=postgres" }},
  {{ name = "o2", dsn = "host=127.0.0.1 port={} user=lifeline password={password} dbname=postgres" }},
]
writer_listen = "127.0.0.1:{other_port}"
check_interval = "500ms"
"#,
        other.primary().port,
        other.standbys()[0].port,
        password = other.password()
    );
    setup
        .daemon
        .write_config(&format!("{main_config}{other_section}"));
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("cluster other added"),
        "{body}"
    );
    let (_, status) = setup.daemon.get("/failover/status?cluster=other").await;
    assert_eq!(status["clusters"][0]["writer"], "o1", "{status}");
    let other_dsn = setup.writer_dsn().replace(
        &format!("port={}", setup.writer_port),
        &format!("port={other_port}"),
    );
    let other_dsn = other_dsn.replace(setup.cluster.password(), other.password());
    let other_writer = Session::open(&other_dsn).await;
    assert_eq!(other_writer.port, other.primary().port);
    main_writer
        .assert_same_connection("main's writer after other was added")
        .await;

    setup.daemon.write_config(&main_config);
    let (code, body) = setup.daemon.post("/reload", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["summary"]
            .as_str()
            .unwrap()
            .contains("cluster other removed: its endpoints stopped"),
        "{body}"
    );
    let (code, _) = setup.daemon.get("/failover/status?cluster=other").await;
    assert_eq!(code, 404);
    let (_, everything) = setup.daemon.get("/status").await;
    assert_eq!(everything["clusters"].as_array().unwrap().len(), 1);
    closed(&other_writer.client, "other's writer connection").await;
    refused(&other_dsn, "other's writer address").await;
    assert!(
        !common::metrics_text(&setup.daemon)
            .await
            .contains("failover_state{cluster=\"other\"}")
    );
    main_writer
        .assert_same_connection("main's writer after other was removed")
        .await;
}
