//! Problems with where load balancers listen and which hosts they answer: addresses, TLS files,
//! hostnames, and load balancers sharing an address. Each test checks exact lines and columns;
//! the texts start with [`POOLS`] (lines 1-19), so load balancers start on line 20.

use super::load_balancer::POOLS;
use super::load_balancer_errors::{lb_problems, p};

#[test]
fn impossible_listen_values() {
    let text = r#"[[load_balancer]]
name = "a"
listen = ["localhost:80", "127.0.0.1:7000", { address = "127.0.0.1:7000" }, { address = "7001" }]
default_pools = ["primary"]
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(
                22,
                11,
                "`listen`: `localhost:80` is not an IP address and port like 127.0.0.1:8080"
            ),
            p(
                22,
                57,
                "`127.0.0.1:7000` appears twice in `listen` (first on line 22)"
            ),
            p(
                22,
                89,
                "`address`: `7001` is not an IP address and port like 127.0.0.1:8080"
            ),
        ]
    );
}

#[test]
fn tls_files_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
    let text = format!(
        r#"{POOLS}[[load_balancer]]
name = "a"
default_pools = ["primary"]
[[load_balancer.listen]]
address = "127.0.0.1:7443"
tls_certificate = "cert.pem"
tls_key = "missing.pem"
[[load_balancer.listen]]
address = "127.0.0.1:7444"
tls_certificate = "."
tls_key = ""
[[load_balancer.listen]]
address = "127.0.0.1:7445"
tls_certificate = "cert.pem"
"#
    );
    let file = dir.path().join("lifeline.toml");
    let found: Vec<_> = crate::parse(&file, &text, &super::env(&[]))
        .unwrap_err()
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect();
    let dir = dir.path().display();
    assert_eq!(
        found,
        [
            p(
                26,
                11,
                &format!(
                    "`tls_key`: cannot read `{dir}/missing.pem`: No such file or directory (os error 2)"
                )
            ),
            p(
                29,
                19,
                &format!("`tls_certificate`: `{dir}/.` is not a file")
            ),
            p(30, 11, "`tls_key` must not be empty"),
            p(
                33,
                19,
                "`tls_certificate` without `tls_key`; give both or neither"
            ),
        ]
    );
}

#[test]
fn impossible_hostnames() {
    let text = r#"[[load_balancer]]
name = "a"
listen = "127.0.0.1:7000"
default_pools = ["primary"]
hostnames = ["api.example.com:443", "api.*.com", "*", "bad_host!.com", "", "API.example.com", "api.example.com"]
"#;
    assert_eq!(
        lb_problems(text),
        [
            p(
                24,
                14,
                "hostname `api.example.com:443` has a port; hostnames match requests on any port"
            ),
            p(
                24,
                37,
                "hostname `api.*.com`: `*` is allowed only as the whole first label, as in `*.example.com`"
            ),
            p(
                24,
                50,
                "hostname `*`: `*` is allowed only as the whole first label, as in `*.example.com`"
            ),
            p(
                24,
                55,
                "`bad_host!.com` is not a hostname like api.example.com or *.example.com"
            ),
            p(
                24,
                72,
                "`` is not a hostname like api.example.com or *.example.com"
            ),
            p(
                24,
                95,
                "hostname `api.example.com` appears twice in `hostnames`"
            ),
        ]
    );
}

#[test]
fn load_balancers_sharing_an_address() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["a.pem", "b.pem"] {
        std::fs::write(dir.path().join(file), "x").unwrap();
    }
    let text = format!(
        r#"{POOLS}[admin]
listen = "127.0.0.1:9090"
[[load_balancer]]
name = "one"
listen = ["127.0.0.1:8080", {{ address = "127.0.0.1:8443", tls_certificate = "a.pem", tls_key = "b.pem" }}]
default_pools = ["primary"]
[[load_balancer]]
name = "two"
listen = ["127.0.0.1:8080", "127.0.0.1:9090"]
hostnames = ["api.example.com"]
default_pools = ["primary"]
[[load_balancer]]
name = "three"
listen = ["127.0.0.1:8080", {{ address = "127.0.0.1:8443", tls_certificate = "b.pem", tls_key = "a.pem" }}]
default_pools = ["primary"]
[[load_balancer]]
name = "four"
listen = ["127.0.0.1:8443", "127.0.0.1:8080"]
hostnames = ["www.example.com", "API.example.com"]
default_pools = ["primary"]
"#
    );
    let file = dir.path().join("lifeline.toml");
    let found: Vec<_> = crate::parse(&file, &text, &super::env(&[]))
        .unwrap_err()
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect();
    assert_eq!(
        found,
        [
            p(
                28,
                29,
                "`127.0.0.1:9090` is the admin API's address (`listen` in [admin])"
            ),
            p(
                33,
                11,
                "load balancer `one` (line 24) also listens on `127.0.0.1:8080` without `hostnames`; give one of them `hostnames` to tell requests apart"
            ),
            p(
                33,
                41,
                "`127.0.0.1:8443` is also a listener of load balancer `one` (line 24) with other TLS settings; listeners on one address must use the same certificate and key, or all be plain HTTP"
            ),
            p(
                37,
                11,
                "`127.0.0.1:8443` is also a listener of load balancer `one` (line 24) with other TLS settings; listeners on one address must use the same certificate and key, or all be plain HTTP"
            ),
            p(
                38,
                33,
                "hostname `api.example.com` on `127.0.0.1:8080` is already claimed by load balancer `two` (line 29)"
            ),
        ]
    );
}
