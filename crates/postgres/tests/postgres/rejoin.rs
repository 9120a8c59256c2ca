//! Rejoin commands: placeholders, failures with their output, timeouts, no secrets.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lifeline_model::{ClusterNode, NodeConnection, NodeName, PgDsn};
use lifeline_postgres::{PgError, run_rejoin};

fn node(name: &str, host: &str, port: u16, password: &str) -> ClusterNode {
    let dsn = format!("host={host} port={port} user=lifeline password={password} dbname=postgres");
    ClusterNode {
        name: NodeName::new(name),
        connection: NodeConnection::Postgres(PgDsn::parse(&dsn).expect("a valid DSN")),
        priority: 0,
        no_failover: false,
    }
}

/// A file name unique to this test process and `name`.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lifeline-rejoin-{}-{name}", std::process::id()))
}

#[tokio::test]
async fn replaces_placeholders() {
    let old = node("pg1", "127.0.0.1", 5433, "s3cret");
    let primary = node("pg2", "10.0.0.2", 5434, "0ther");
    let file = scratch("placeholders");
    let command = format!(
        "echo {{node}} {{host}} {{port}} {{primary_host}} {{primary_port}} > {}",
        file.display()
    );
    run_rejoin(&command, &old, &primary, Duration::from_secs(5))
        .await
        .expect("the command succeeds");
    let written = fs::read_to_string(&file).expect("the command wrote the file");
    fs::remove_file(&file).expect("remove the scratch file");
    assert_eq!(written, "pg1 127.0.0.1 5433 10.0.0.2 5434\n");
}

#[tokio::test]
async fn reports_a_failing_command_with_its_last_lines_and_no_secrets() {
    let old = node("pg1", "127.0.0.1", 5433, "s3cret");
    let primary = node("pg2", "127.0.0.1", 5434, "0ther");
    let command = "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; done; \
                   echo 'password s3cret and 0ther' >&2; exit 3";
    let error = run_rejoin(command, &old, &primary, Duration::from_secs(5))
        .await
        .expect_err("the command fails");
    let PgError::RejoinFailed {
        node,
        status,
        output,
    } = &error
    else {
        panic!("not a failed rejoin: {error}");
    };
    assert_eq!(node.as_str(), "pg1");
    assert_eq!(status.code(), Some(3));
    assert!(output.starts_with("line 4 | "), "{output}");
    assert!(
        output.ends_with("line 12 | password *** and ***"),
        "{output}"
    );
    let message = error.to_string();
    assert!(
        !message.contains("s3cret") && !message.contains("0ther"),
        "{message}"
    );
}

#[tokio::test]
async fn kills_a_command_that_runs_too_long() {
    let old = node("pg1", "127.0.0.1", 5433, "s3cret");
    let primary = node("pg2", "127.0.0.1", 5434, "0ther");
    let pidfile = scratch("background.pid");
    // The background sleep is in the command's process group and dies with it.
    let command = format!(
        "echo started; sleep 30 & echo $! > {}; sleep 30",
        pidfile.display()
    );
    let started = Instant::now();
    let error = run_rejoin(&command, &old, &primary, Duration::from_millis(300))
        .await
        .expect_err("the command is killed");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(&error, PgError::RejoinTimeout { output, .. } if output == "started"),
        "{error}"
    );
    let background: i32 = fs::read_to_string(&pidfile)
        .expect("the command wrote its background pid")
        .trim()
        .parse()
        .expect("a pid");
    lifeline_testkit::wait::until(
        "the background process to die with its group",
        Duration::from_secs(2),
        || async { (!lifeline_testkit::pg::process_alive(background)).then_some(()) },
    )
    .await;
}
