//! `[[notify]]`: the receivers it builds, and each problem at its line.

use std::time::Duration;

use lifeline_model::{AlertName, ReceiverKind};

use super::{env, parse_ok, problems};

const POOL: &str = r#"
[[pool]]
name = "primary"
origins = [{ name = "a", address = "127.0.0.1:8001" }]
"#;

#[test]
fn receivers_build_the_model() {
    let text = format!(
        r#"{POOL}
[[notify]]
name = "ops"
kind = "webhook"
url = "https://hooks.example.com/lifeline/"

[[notify]]
name = "am"
kind = "alertmanager"
url = "http://127.0.0.1:9093"
alerts = ["pool_down", "rto_exceeded"]
group_wait = "0s"
timeout = "2s"

[[notify]]
name = "page"
kind = "command"
run = ["/usr/local/bin/page", "--team", "db"]
"#
    );
    let receivers = parse_ok(&text, &env(&[])).receivers;
    assert_eq!(receivers.len(), 3);
    assert_eq!(
        receivers[0].kind,
        ReceiverKind::Webhook {
            url: "https://hooks.example.com/lifeline".into()
        }
    );
    assert_eq!(receivers[0].alerts, AlertName::ALL);
    assert_eq!(receivers[0].group_wait, Duration::from_millis(500));
    assert_eq!(
        receivers[1].alerts,
        [AlertName::PoolDown, AlertName::RtoExceeded]
    );
    assert_eq!(receivers[1].group_wait, Duration::ZERO);
    assert_eq!(receivers[1].timeout, Duration::from_secs(2));
    let ReceiverKind::Command { program, args } = &receivers[2].kind else {
        panic!("{:?}", receivers[2]);
    };
    assert_eq!(program.to_str(), Some("/usr/local/bin/page"));
    assert_eq!(args, &["--team", "db"]);
}

#[test]
fn each_problem_is_named_at_its_line() {
    let text = format!(
        r#"{POOL}
[[notify]]
name = "a"
kind = "pager"

[[notify]]
name = "b"
kind = "webhook"
url = "ftp://example.com"

[[notify]]
name = "c"
kind = "command"
url = "http://example.com"

[[notify]]
name = "d"
kind = "webhook"
url = "http://example.com"
alerts = ["pool_down", "site_on_fire"]

[[notify]]
name = "d"
kind = "command"
run = []
"#
    );
    let found: Vec<(usize, String)> = problems(&text)
        .into_iter()
        .map(|(line, _, message)| (line, message))
        .collect();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let expect = [
        (line_of("\"pager\""), "unknown `kind` `pager`"),
        (
            line_of("ftp://"),
            "`url` must be an http:// or https:// URL",
        ),
        (
            line_of("url = \"http://example.com\""),
            "`url` is for a webhook or an Alertmanager",
        ),
        (line_of("site_on_fire"), "unknown alert `site_on_fire`"),
        (line_of("run = []"), "`run` must name a program"),
    ];
    for (line, message) in expect {
        assert!(
            found.iter().any(|(l, m)| *l == line && m.contains(message)),
            "no `{message}` on line {line} in {found:?}"
        );
    }
    assert!(
        found
            .iter()
            .any(|(_, m)| m.contains("duplicate notify name `d`")),
        "{found:?}"
    );
}
