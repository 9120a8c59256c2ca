//! `[store]` and `[instance]`: the embedded default, etcd settings, and every bad value at its
//! position. The password never reaches a message.

use std::path::Path;
use std::time::Duration;

use lifeline_model::{EtcdSettings, HealthQuorum, StoreBackend};

use super::{env, parse_ok, problems, problems_with};

/// Something to run, so that a file is valid.
const POOL: &str =
    "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";

fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

fn etcd(topology: &lifeline_model::Topology) -> &EtcdSettings {
    match &topology.store {
        StoreBackend::Etcd(settings) => settings,
        StoreBackend::Embedded => panic!("expected etcd"),
    }
}

#[test]
fn without_store_the_embedded_store_and_the_host_name() {
    let topology = parse_ok(POOL, &env(&[]));
    assert_eq!(topology.store, StoreBackend::Embedded);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(topology.instance.name.as_str(), host.trim());

    let text = format!("[store]\nbackend = \"embedded\"\n[instance]\nname = \"lb-1\"\n{POOL}");
    let topology = parse_ok(&text, &env(&[]));
    assert_eq!(topology.store, StoreBackend::Embedded);
    assert_eq!(topology.instance.name.as_str(), "lb-1");
}

#[test]
fn etcd_has_defaults() {
    let text =
        format!("[store]\nbackend = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n{POOL}");
    let topology = parse_ok(&text, &env(&[]));
    assert_eq!(
        etcd(&topology),
        &EtcdSettings {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            prefix: "/lifeline".into(),
            lease_ttl: Duration::from_secs(3),
            username: None,
            password: None,
            ca_file: None,
            cert_file: None,
            key_file: None,
            health_quorum: HealthQuorum::Majority,
        }
    );
}

#[test]
fn etcd_takes_every_setting() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["ca.pem", "client.pem", "client.key"] {
        std::fs::write(dir.path().join(name), "pem").unwrap();
    }
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"https://10.0.0.5:2379\", \"https://[::1]:2379\"]\n\
         prefix = \"/lifeline/prod\"\nlease_ttl = \"5s\"\nusername = \"lifeline\"\n\
         password = \"${{ETCD_PASSWORD}}\"\nca_file = \"ca.pem\"\ncert_file = \"client.pem\"\n\
         key_file = \"client.key\"\nhealth_quorum = \"any\"\n{POOL}"
    );
    let file = dir.path().join("lifeline.toml");
    let loaded = crate::parse(&file, &text, &env(&[("ETCD_PASSWORD", "hunter2")])).unwrap();
    let settings = etcd(&loaded.topology);
    assert_eq!(settings.endpoints.len(), 2);
    assert_eq!(settings.prefix, "/lifeline/prod");
    assert_eq!(settings.lease_ttl, Duration::from_secs(5));
    assert_eq!(settings.username.as_deref(), Some("lifeline"));
    assert_eq!(settings.password.as_ref().unwrap().expose(), "hunter2");
    assert_eq!(
        settings.ca_file.as_deref(),
        Some(&*dir.path().join("ca.pem"))
    );
    assert_eq!(
        settings.cert_file.as_deref(),
        Some(&*dir.path().join("client.pem"))
    );
    assert_eq!(
        settings.key_file.as_deref(),
        Some(&*dir.path().join("client.key"))
    );
    assert_eq!(settings.health_quorum, HealthQuorum::Any);
}

#[test]
fn etcd_keys_in_the_embedded_store_are_named() {
    let text = format!("[store]\nprefix = \"/x\"\nlease_ttl = \"3s\"\n{POOL}");
    let embedded = "is an etcd setting, but the store is the embedded one; set `backend = \
                    \"etcd\"` or remove";
    assert_eq!(
        problems(&text),
        [
            p(2, 10, &format!("`prefix` {embedded} `prefix`")),
            p(3, 13, &format!("`lease_ttl` {embedded} `lease_ttl`")),
        ]
    );
}

#[test]
fn bad_etcd_values_are_reported_together() {
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"10.0.0.5:2379\", \"http://a:1/x\"]\n\
         prefix = \"lifeline\"\nlease_ttl = \"500ms\"\nhealth_quorum = \"all\"\n\
         cert_file = \"/nonexistent/cert.pem\"\n{POOL}"
    );
    let endpoint = "is not like \"http://10.0.0.5:2379\" (http:// or https://, a host and a port, \
                    nothing else)";
    assert_eq!(
        problems(&text),
        [
            p(3, 14, &format!("`endpoints`: `10.0.0.5:2379` {endpoint}")),
            p(3, 31, &format!("`endpoints`: `http://a:1/x` {endpoint}")),
            p(
                4,
                10,
                "`prefix` must start with `/`, like \"/lifeline/prod\", not `lifeline`"
            ),
            p(5, 13, "`lease_ttl` must be between 1s and 60s"),
            p(
                6,
                17,
                "`health_quorum` must be \"majority\" or \"any\", not `all`"
            ),
            p(
                7,
                13,
                "`cert_file` `/nonexistent/cert.pem` cannot be read: No such file or directory \
                 (os error 2)"
            ),
            p(7, 13, "`cert_file` needs a `key_file`"),
        ]
    );
}

#[test]
fn etcd_needs_endpoints_and_a_known_backend() {
    let text = format!("[store]\nbackend = \"etcd\"\n{POOL}");
    assert_eq!(problems(&text), [p(1, 1, "missing `endpoints` in [store]")]);
    let text = format!("[store]\nbackend = \"etcd\"\nendpoints = []\n{POOL}");
    assert_eq!(
        problems(&text),
        [p(
            3,
            13,
            "`endpoints` is empty; etcd needs at least one, like \"http://127.0.0.1:2379\""
        )]
    );
    let text = format!("[store]\nbackend = \"consul\"\n{POOL}");
    assert_eq!(
        problems(&text),
        [p(
            2,
            11,
            "`backend` must be \"embedded\" or \"etcd\", not `consul`"
        )]
    );
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\nlease_ttl = \"2m\"\n{POOL}"
    );
    assert_eq!(
        problems(&text),
        [p(4, 13, "`lease_ttl` must be between 1s and 60s")]
    );
}

#[test]
fn the_password_is_never_echoed() {
    let secret = "hunter2-secret";
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"http://lifeline:{secret}@h:2379\"]\n\
         password = \"${{ETCD_PASSWORD}}\"\n{POOL}"
    );
    let found = problems_with(&text, &env(&[("ETCD_PASSWORD", secret)]));
    assert_eq!(
        found,
        [
            p(
                3,
                14,
                "`endpoints`: an endpoint is not like \"http://10.0.0.5:2379\" (http:// or \
                 https://, a host and a port, nothing else)"
            ),
            p(4, 12, "`password` needs a `username`"),
        ]
    );
    for (_, _, message) in &found {
        assert!(!message.contains(secret), "{message}");
    }
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"http://h:1\"]\npassword = 7\nusername = \"u\"\n{POOL}"
    );
    assert_eq!(
        problems(&text),
        [p(4, 12, "`password` must be a string, not integer")]
    );
}

#[test]
fn bad_instance_names_are_reported() {
    assert_eq!(
        problems(&format!("[instance]\nname = \"\"\n{POOL}")),
        [p(2, 8, "`name` must not be empty")]
    );
    let found = problems(&format!("[instance]\nname = \"lb\\n1\"\n{POOL}"));
    assert_eq!((found[0].0, found[0].1), (2, 8));
    assert!(
        found[0]
            .2
            .starts_with("`name` must not contain control characters"),
        "{found:?}"
    );
    assert_eq!(
        problems(&format!("[instance]\nnmae = \"lb-1\"\n{POOL}")),
        [p(2, 1, "unknown key `nmae` in `instance`")]
    );
}

#[test]
fn a_relative_tls_file_is_resolved_beside_the_config() {
    let text = format!(
        "[store]\nbackend = \"etcd\"\nendpoints = [\"https://h:2379\"]\nca_file = \"ca.pem\"\n{POOL}"
    );
    let diagnostics = crate::parse(
        Path::new("/nonexistent/dir/lifeline.toml"),
        &text,
        &env(&[]),
    )
    .unwrap_err();
    let message = diagnostics.into_iter().next().unwrap().message;
    assert!(
        message.starts_with("`ca_file` `/nonexistent/dir/ca.pem` cannot be read"),
        "{message}"
    );
}
