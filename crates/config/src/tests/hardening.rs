//! What a hostile or careless file must not do: leak a secret through a message, slip a line
//! break into a name, hang `check`, or pass for a config while running nothing; and the warning
//! for an admin API open to everyone.

use std::path::Path;

use super::{FILE, NOTHING_TO_RUN, env, problems, problems_with};
use crate::{Severity, load, parse};

fn p(line: usize, col: usize, message: &str) -> (usize, usize, String) {
    (line, col, message.to_string())
}

/// A pool, so that a file has something to run.
const POOL: &str =
    "[[pool]]\nname = \"p\"\norigins = [{ name = \"o\", address = \"127.0.0.1:1\" }]\n";

/// Every message of `text` with `PG_PASSWORD` = `password`, as one string.
fn shown(text: &str, password: &str) -> String {
    let env = env(&[("PG_PASSWORD", password)]);
    let diagnostics = parse(Path::new(FILE), text, &env).unwrap_err();
    format!("{diagnostics}\n{diagnostics:?}")
}

fn cluster(dsn: &str) -> String {
    format!(
        "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\nnodes = [\n  {{ name = \"a\", dsn = \"{dsn}\" }},\n  {{ name = \"b\", dsn = \"host=h2 user=u\" }},\n]\n"
    )
}

#[test]
fn a_broken_dsn_never_shows_a_piece_of_the_password() {
    let quoted = cluster("host=h user=u password='${PG_PASSWORD}'");
    let unquoted = cluster("host=h user=u password=${PG_PASSWORD}");
    let literal = cluster("host=h user=u password=Pa55 w0rd=SECRETtail");
    for (text, password) in [
        (&quoted, "Pa55'w0rdSECRETtail"),
        (&unquoted, "Pa55 w0rd=SECRETtail"),
        (&literal, "unused"),
    ] {
        let shown = shown(text, password);
        for fragment in ["Pa55", "w0rd", "SECRET", "tail"] {
            assert!(!shown.contains(fragment), "{fragment} in {shown}");
        }
        assert!(shown.contains(":5:23: error: "), "{shown}");
    }
}

#[test]
fn unknown_dsn_keys_are_named_with_the_keys_accepted() {
    let text = cluster("host=h user=u sslmode=disable bogus=1 password=x");
    assert_eq!(
        problems(&text),
        [p(
            5,
            23,
            "unknown key `bogus` in the connection string (expected host, hostaddr, port, user, \
             password, dbname, sslmode, sslrootcert, connect_timeout, keepalives, keepalives_idle, \
             keepalives_interval, tcp_user_timeout, channel_binding, options)"
        )]
    );
}

#[test]
fn a_message_never_quotes_a_value_from_the_environment() {
    let text = format!("[admin]\nlisten = \"${{ADDR}}\"\n{POOL}");
    let env = env(&[("ADDR", "sekrit.example:90")]);
    let found = problems_with(&text, &env);
    assert_eq!(
        found,
        [p(
            2,
            10,
            "`listen`: (a value from the environment, not shown) is not an IP address and port \
             like 127.0.0.1:9090"
        )]
    );
    // A string that is only partly from the environment is not quoted either.
    let text = format!("{POOL}[[monitor]]\nname = \"m\"\ntype = \"tcp\"\ninterval = \"${{N}}x\"\n");
    let found = problems_with(&text, &super::env(&[("N", "77")]));
    assert_eq!(found.len(), 1);
    assert!(!found[0].2.contains("77"), "{found:?}");
    assert!(found[0].2.contains("not shown"), "{found:?}");
}

#[test]
fn names_with_control_characters_are_refused_where_they_are() {
    let text = format!(
        "{POOL}[[monitor]]\nname = \"a\\nb\"\ntype = \"tcp\"\n[[pool]]\nname = \"q\\r\"\norigins = [{{ name = \"x\\ty\", address = \"127.0.0.1:2\" }}]\n"
    );
    let message = |what: &str, code: &str, at: usize| {
        format!(
            "{what} must not contain control characters such as line breaks or tabs ({code} at \
             character {at})"
        )
    };
    assert_eq!(
        problems(&text),
        [
            p(5, 8, &message("`name`", "U+000A", 2)),
            p(8, 8, &message("`name`", "U+000D", 2)),
            p(9, 21, &message("`name`", "U+0009", 2)),
        ]
    );
}

#[test]
fn messages_stay_on_one_line() {
    let text =
        format!("{POOL}[[monitor]]\nname = \"m\"\ntype = \"tcp\"\ninterval = \"5\\n\\u0007s\"\n");
    let found = problems(&text);
    assert_eq!(found.len(), 1);
    assert!(found[0].2.contains("`5\\n\\u{7}s`"), "{found:?}");
}

#[test]
fn a_file_with_nothing_to_run_is_refused() {
    for text in ["", "# nothing\n", "[admin]\nlisten = \"127.0.0.1:9999\"\n"] {
        assert_eq!(problems(text), [p(1, 1, NOTHING_TO_RUN)], "{text:?}");
    }
    let text = "[[monitor]]\nname = \"m\"\ntype = \"tcp\"\n";
    assert_eq!(problems(text), [p(1, 1, NOTHING_TO_RUN)]);
}

#[test]
fn an_open_admin_api_without_a_token_is_a_warning() {
    let open = format!("[admin]\nlisten = \"0.0.0.0:9090\"\n{POOL}");
    let loaded = parse(Path::new(FILE), &open, &env(&[])).unwrap();
    let warnings: Vec<_> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [format!(
            "{FILE}:2:10: warning: the admin API listens beyond this machine without a `token`: \
             it shows the topology to anyone who can reach it and refuses every change; set \
             `token = \"${{LIFELINE_TOKEN}}\"` or listen on 127.0.0.1"
        )]
    );
    assert_eq!(loaded.warnings[0].severity, Severity::Warning);

    let quiet = [
        format!("[admin]\nlisten = \"0.0.0.0:9090\"\ntoken = \"t\"\n{POOL}"),
        format!("[admin]\nlisten = \"[::1]:9090\"\n{POOL}"),
        POOL.to_string(),
    ];
    for text in quiet {
        let loaded = parse(Path::new(FILE), &text, &env(&[])).unwrap();
        assert!(loaded.warnings.is_empty(), "{text}: {:?}", loaded.warnings);
    }
}

#[test]
fn only_a_regular_file_of_reasonable_size_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(5 << 20)).unwrap();
    for (path, expected) in [
        (fifo.as_path(), "not a regular file"),
        (dir.path(), "not a regular file"),
        (big.as_path(), "more than the 4194304"),
    ] {
        let diagnostics = load(path, &env(&[])).unwrap_err();
        assert_eq!(diagnostics.len(), 1);
        let shown = diagnostics.to_string();
        assert!(shown.contains(expected), "{shown}");
        assert!(shown.starts_with(&format!("{}:0:0: error: ", path.display())));
    }
}
