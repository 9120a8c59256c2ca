//! One test per class of problem, each checking exact lines and columns.

use super::{FILE, FULL, NOTHING_TO_RUN, env, full_env, problems, problems_with};
use crate::parse;
use std::path::Path;

fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

/// A valid pool, for tests about monitors.
const POOL: &str =
    "[[pool]]\nname = \"p\"\norigins = [{ name = \"o\", address = \"127.0.0.1:1\" }]\n";

#[test]
fn syntax_error() {
    let found = problems("[admin]\nlisten = = \"x\"\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].0, found[0].1), (2, 10));
}

#[test]
fn wrong_type() {
    let text = "[[monitor]]\nname = \"web\"\ntype = \"tcp\"\nretries = \"two\"\n";
    assert_eq!(
        problems(text),
        [p(
            4,
            11,
            "invalid type: string \"two\", expected an integer"
        )]
    );
}

#[test]
fn wrong_type_of_section() {
    assert_eq!(
        problems("monitor = [1]\n"),
        [p(1, 12, "invalid type: integer `1`, expected a table")]
    );
    assert_eq!(
        problems("pool = 1\n"),
        [p(1, 8, "invalid type: integer `1`, expected an array")]
    );
}

#[test]
fn every_unknown_key() {
    let text = r#"bogus = 1
[admin]
lisen = "127.0.0.1:1"
[[monitor]]
name = "web"
type = "tcp"
tiemout = "1s"
[[pool]]
name = "p"
origins = [{ name = "a", address = "127.0.0.1:1", wieght = 2 }]
[[pool]]
name = "q"
[[pool.origins]]
name = "b"
address = "127.0.0.1:2"
x.y = 1
"#;
    assert_eq!(
        problems(text),
        [
            p(1, 1, "unknown key `bogus`"),
            p(3, 1, "unknown key `lisen` in `admin`"),
            p(7, 1, "unknown key `tiemout` in `monitor`"),
            p(10, 51, "unknown key `wieght` in `pool.origins`"),
            p(16, 1, "unknown key `x` in `pool.origins`"),
        ]
    );
}

#[test]
fn misspelt_sections_are_unknown() {
    let text = "[[monitor]]\nname = \"m\"\ntype = \"tcp\"\n\n[[clusters]]\nname = \"c\"\n";
    assert_eq!(
        problems(text),
        [p(1, 1, NOTHING_TO_RUN), p(5, 3, "unknown key `clusters`")]
    );
}

#[test]
fn duplicate_names() {
    let text = r#"[[monitor]]
name = "m"
type = "tcp"
[[monitor]]
name = "m"
type = "tcp"
[[pool]]
name = "p"
origins = [{ name = "a", address = "127.0.0.1:1" }]
[[pool]]
name = "p"
origins = [{ name = "b", address = "127.0.0.1:2" }, { name = "a", address = "127.0.0.1:3" }]
"#;
    assert_eq!(
        problems(text),
        [
            p(5, 8, "duplicate monitor name `m` (first defined on line 2)"),
            p(11, 8, "duplicate pool name `p` (first defined on line 8)"),
            p(
                12,
                62,
                "duplicate origin name `a` (first defined on line 9)"
            ),
        ]
    );
}

#[test]
fn dangling_monitor_reference() {
    let text = "[[pool]]\nname = \"p\"\nmonitor = \"wbe\"\norigins = [{ name = \"o\", address = \"127.0.0.1:1\" }]\n";
    assert_eq!(problems(text), [p(3, 11, "no [[monitor]] is named `wbe`")]);
}

#[test]
fn an_invalid_monitor_is_still_a_valid_reference() {
    let text = format!("[[monitor]]\nname = \"p\"\ntype = \"gopher\"\n{POOL}monitor = \"p\"\n");
    assert_eq!(
        problems(&text),
        [p(
            3,
            8,
            "unknown monitor type `gopher` (expected http, https, tcp or postgres)"
        )]
    );
}

#[test]
fn impossible_monitor_values() {
    let text = r#"[[monitor]]
name = "a"
type = "http"
interval = "1s"
timeout = "1s"
retries = 0
rise = 0
[[monitor]]
name = "b"
type = "tcp"
interval = "soon"
retries = 1
fall = 1
[[monitor]]
name = "c"
type = "http"
interval = "1s"
"#;
    assert_eq!(
        problems(text),
        [
            p(5, 11, "`timeout` (1s) must be shorter than `interval` (1s)"),
            p(6, 11, "`retries` must be at least 1, not 0"),
            p(7, 8, "`rise` must be at least 1, not 0"),
            p(
                11,
                12,
                "`interval`: `soon` is not a duration like \"500ms\", \"5s\" or \"1m\""
            ),
            p(
                13,
                8,
                "`fall` is another name for `retries`; give only one of them"
            ),
            p(
                17,
                12,
                "`timeout` (2s) must be shorter than `interval` (1s)"
            ),
        ]
    );
}

#[test]
fn impossible_http_values() {
    let text = r#"[[monitor]]
name = "h"
type = "http"
method = "get"
path = "health"
port = 70000
headers = { "Bad Name" = "x" }
expected_codes = "2xx,abc"
allow_insecure = true
"#;
    assert_eq!(
        problems(text),
        [
            p(
                4,
                10,
                "`method`: `get` is not an HTTP method in capitals, like GET or HEAD"
            ),
            p(5, 8, "`path` must start with `/`"),
            p(6, 8, "`port` must be at most 65535, not 70000"),
            p(7, 26, "`Bad Name` is not a valid header name"),
            p(
                8,
                18,
                "`abc` is not a status code, a range like 200-299 or a class like 2xx"
            ),
            p(
                9,
                18,
                "`allow_insecure` applies to https monitors, not http"
            ),
        ]
    );
}

#[test]
fn fields_of_another_monitor_type() {
    let text = r#"[[monitor]]
name = "t"
type = "tcp"
path = "/"
user = "u"
[[monitor]]
name = "pg"
type = "postgres"
expected_body = "x"
[[monitor]]
name = "h"
type = "https"
database = "d"
"#;
    assert_eq!(
        problems(text),
        [
            p(4, 8, "`path` applies to http and https monitors, not tcp"),
            p(5, 8, "`user` applies to postgres monitors, not tcp"),
            p(6, 1, "missing `user` in a postgres [[monitor]]"),
            p(
                9,
                17,
                "`expected_body` applies to http and https monitors, not postgres"
            ),
            p(13, 12, "`database` applies to postgres monitors, not https"),
        ]
    );
}

#[test]
fn impossible_pool_values() {
    let text = r#"[[pool]]
name = "empty"
origins = []
[[pool]]
name = "too-few"
minimum_origins = 2
origins = [
  { name = "a", address = "127.0.0.1:1" },
  { name = "b", address = "127.0.0.1:2", enabled = false },
]
[[pool]]
name = "zero"
minimum_origins = 0
origins = [{ name = "c", address = "127.0.0.1:3", weight = 0 }]
[[pool]]
name = "bad"
origins = [{ name = "d", address = "nowhere" }, { name = "e", address = "127.0.0.1:4", weight = 1001 }]
[[pool]]
name = "none"
"#;
    assert_eq!(
        problems(text),
        [
            p(
                3,
                11,
                "`origins` is empty; a pool needs at least one origin"
            ),
            p(
                6,
                19,
                "`minimum_origins` is 2, but the pool has only 1 enabled origin(s)"
            ),
            p(13, 19, "`minimum_origins` must be at least 1, not 0"),
            p(
                14,
                60,
                "`weight` 0 in an enabled origin; give it a weight or set `enabled = false`"
            ),
            p(17, 36, "`nowhere` is not host:port"),
            p(17, 97, "`weight` must be at most 1000, not 1001"),
            p(18, 1, "missing `origins` in [[pool]]"),
        ]
    );
}

#[test]
fn impossible_pool_protocol_values() {
    let text = r#"[[pool]]
name = "a"
origin_protocol = "h2"
origins = [{ name = "a1", address = "127.0.0.1:1" }]
[[pool]]
name = "b"
origin_allow_insecure = true
eject_after = 1001
origins = [{ name = "b1", address = "127.0.0.1:2" }]
[[pool]]
name = "c"
origin_protocol = "http"
origin_allow_insecure = false
eject_after = -1
origins = [{ name = "c1", address = "127.0.0.1:3" }]
"#;
    assert_eq!(
        problems(text),
        [
            p(
                3,
                19,
                "unknown origin_protocol `h2` (expected http or https)"
            ),
            p(
                7,
                25,
                "`origin_allow_insecure` applies to origin_protocol = \"https\", not http"
            ),
            p(8, 15, "`eject_after` must be at most 1000, not 1001"),
            p(
                13,
                25,
                "`origin_allow_insecure` applies to origin_protocol = \"https\", not http"
            ),
            p(14, 15, "`eject_after` must be at least 0, not -1"),
        ]
    );
}

#[test]
fn impossible_admin_values() {
    let text = "[admin]\nlisten = \"localhost\"\ntoken = 12345\n";
    assert_eq!(
        problems(text),
        [
            p(
                2,
                10,
                "`listen`: `localhost` is not an IP address and port like 127.0.0.1:9090"
            ),
            p(3, 9, "`token` must be a string, not integer"),
        ]
    );
}

#[test]
fn missing_required_keys() {
    let text = "[[monitor]]\ntype = \"tcp\"\n[[monitor]]\nname = \"\"\n[[pool]]\norigins = [{ address = \"127.0.0.1:1\" }]\n";
    assert_eq!(
        problems(text),
        [
            p(1, 1, "missing `name` in [[monitor]]"),
            p(3, 1, "missing `type` in [[monitor]]"),
            p(4, 8, "`name` must not be empty"),
            p(5, 1, "missing `name` in [[pool]]"),
            p(6, 12, "missing `name` in an origin"),
        ]
    );
}

#[test]
fn unset_variable() {
    let text = "[admin]\nlisten = \"${ADMIN_LISTEN}\"\ntoken = \"${LIFELINE_TOKEN}\"\n";
    assert_eq!(
        problems_with(text, &env(&[("LIFELINE_TOKEN", "x")])),
        // Nothing else about `listen`: the unexpanded text is not also "not an address".
        [p(2, 10, "environment variable `ADMIN_LISTEN` is not set")]
    );
}

#[test]
fn four_problems_give_four_diagnostics() {
    let text = r#"[[monitor]]
name = "web"
type = "http"
timeout = "10s"
[[pool]]
name = "p"
monitor = "nope"
origins = [{ name = "a", address = "127.0.0.1:1", color = "red" }]
[admin]
token = "${MISSING}"
"#;
    let found = problems(text);
    let positions: Vec<_> = found.iter().map(|(line, col, _)| (*line, *col)).collect();
    assert_eq!(positions, [(4, 11), (7, 11), (8, 51), (10, 9)], "{found:?}");
}

#[test]
fn diagnostics_never_show_secrets() {
    // Every error refers to a secret or sits next to one.
    let text = FULL
        .replace("fall = 3", "fall = \"${PG_PASSWORD}\"")
        .replace("port = 8443", "port = 8443\npasswrd = \"${PG_PASSWORD}\"");
    let secrets = "token = \"literal-secret\"\n[[monitor]]\nname = \"x\"\ntype = \"postgres\"\nuser = \"u\"\npassword = 424242\n";
    for text in [text.as_str(), secrets] {
        let diagnostics = parse(Path::new(FILE), text, &full_env()).unwrap_err();
        let shown = format!("{diagnostics}\n{diagnostics:?}");
        for secret in ["hunter2", "t0ken-value", "literal-secret", "424242"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }
}
