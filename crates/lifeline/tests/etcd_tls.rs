//! etcd over TLS, as real processes: a daemon checks etcd's certificate against `ca_file`, or,
//! without one, against the system's roots (here `SSL_CERT_FILE`, which the system's roots
//! honour), and one that trusts neither refuses to start, naming the endpoint.

mod common;

use std::time::Duration;

use common::{binary, wait_role};
use lifeline_testkit::daemon::Daemon;
use lifeline_testkit::etcd::Etcd;
use lifeline_testkit::tls::TestCa;
use lifeline_testkit::wait;

fn config(name: &str, endpoint: &str, ca_file: Option<&str>) -> String {
    let ca = ca_file.map_or(String::new(), |path| format!("ca_file = \"{path}\"\n"));
    format!(
        "[instance]\nname = \"{name}\"\n\n[store]\nbackend = \"etcd\"\nendpoints = [\"{endpoint}\"]\n\
         prefix = \"/lifeline/tls\"\nlease_ttl = \"2s\"\n{ca}\n[admin]\nlisten = \"{{admin}}\"\n\
         token = \"{{token}}\"\n\n[[pool]]\nname = \"web\"\n\
         origins = [{{ name = \"a\", address = \"127.0.0.1:9\" }}]\n"
    )
}

#[tokio::test]
async fn etcd_over_tls_is_trusted_through_ca_file_or_the_system_roots_and_nothing_else() {
    let ca = TestCa::new("lifeline etcd test CA");
    let etcd = Etcd::with_tls(&ca).await;
    let endpoint = etcd.endpoints()[0].clone();
    assert!(endpoint.starts_with("https://"), "{endpoint}");
    let dir = tempfile::tempdir().unwrap();
    let ca_path = ca.write_certificate(dir.path(), "ca.pem");
    let ca_path = ca_path.to_str().unwrap();

    let pinned = Daemon::start(binary(), &config("lb-1", &endpoint, Some(ca_path)));
    wait_role(&pinned, "leader", Duration::from_secs(15)).await;

    // No ca_file: the system's roots, which here hold the test CA.
    let system = Daemon::start_with_env(
        binary(),
        &config("lb-2", &endpoint, None),
        &[("SSL_CERT_FILE", ca_path)],
    );
    wait::until("lb-2 reaches etcd", Duration::from_secs(15), || async {
        let (_, status) = system.get("/status").await;
        (status["instances"][0]["store_reachable"] == true
            && status["instances"].as_array()?.len() == 2)
            .then_some(())
    })
    .await;

    // Trusting neither: it does not start, and says where it could not connect.
    let mut untrusting = Daemon::start(binary(), &config("lb-3", &endpoint, Some(ca_path)));
    untrusting.terminate();
    untrusting.write_config(&config("lb-3", &endpoint, None));
    let (code, logged) = untrusting.run_to_exit(&[]);
    assert_eq!(code, Some(1), "{logged}");
    assert!(logged.contains(&endpoint), "{logged}");
}
