//! A node's `sslmode` and `sslrootcert`: modes libpq does not know, a verifying mode without a
//! CA, and a CA file that is missing or is not one, each refused at load where it is written.

use std::fs;

use lifeline_model::SslMode;

use super::{env, parse_ok, problems};

fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

fn cluster(dsn: &str) -> String {
    format!(
        "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\nnodes = [\n  {{ name = \"a\", dsn = \"{dsn}\" }},\n  {{ name = \"b\", dsn = \"host=h2 user=u\" }},\n]\n"
    )
}

#[test]
fn a_readable_ca_file_and_a_known_mode_are_taken() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    fs::write(
        &ca,
        "-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let text = cluster(&format!(
        "host=h user=u sslmode=verify-full sslrootcert={}",
        ca.display()
    ));
    let topology = parse_ok(&text, &env(&[]));
    let dsn = &topology.clusters[0].nodes[0].postgres().unwrap();
    assert_eq!(dsn.sslmode, Some(SslMode::VerifyFull));
    assert_eq!(dsn.sslrootcert.as_deref(), ca.to_str());
}

#[test]
fn bad_modes_and_missing_or_wrong_ca_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("key.txt");
    fs::write(&not_pem, "not a certificate").unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (
            "host=h user=u sslmode=verify_full".to_string(),
            "sslmode `verify_full` is not one of disable, prefer, require, verify-ca, verify-full"
                .to_string(),
        ),
        (
            "host=h user=u sslmode=verify-ca".to_string(),
            "sslmode verify-ca and verify-full check the server's certificate against a CA: \
             give its file as `sslrootcert=/path/to/ca.pem`"
                .to_string(),
        ),
        (
            "host=h user=u sslrootcert=ca.pem".to_string(),
            "`sslrootcert` must be an absolute path: Lifeline and the standbys (in \
             `primary_conninfo`) read it from different directories"
                .to_string(),
        ),
        (
            format!(
                "host=h user=u sslmode=require sslrootcert={}",
                missing.display()
            ),
            format!(
                "`sslrootcert` `{}` cannot be read: No such file or directory (os error 2)",
                missing.display()
            ),
        ),
        (
            format!("host=h user=u sslrootcert={}", not_pem.display()),
            format!(
                "`sslrootcert` `{}` holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                not_pem.display()
            ),
        ),
        (
            format!("host=h user=u sslrootcert={}", dir.path().display()),
            format!("`sslrootcert` `{}` is not a file", dir.path().display()),
        ),
    ];
    for (dsn, message) in cases {
        assert_eq!(problems(&cluster(&dsn)), [p(5, 23, &message)], "{dsn}");
    }
}
