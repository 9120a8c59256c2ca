//! Random input never panics `parse`: random bytes, TOML-ish text and mutations of the example
//! config are each either accepted or refused with diagnostics at sane positions, on one line.

use std::path::Path;

use proptest::prelude::*;

use super::{FILE, env};
use crate::parse;

const EXAMPLE: &str = include_str!("../../../../examples/lifeline.toml");

/// Section headers, keys and values of lifeline.toml, so that random files often get past the
/// TOML parser and into validation.
const SECTIONS: [&str; 7] = [
    "[admin]",
    "[[monitor]]",
    "[[pool]]",
    "[[pool.origins]]",
    "[[load_balancer]]",
    "[[cluster]]",
    "[[cluster.nodes]]",
];
const KEYS: [&str; 16] = [
    "name",
    "listen",
    "token",
    "type",
    "kind",
    "dsn",
    "monitor",
    "address",
    "origins",
    "nodes",
    "default_pools",
    "interval",
    "timeout",
    "hostnames",
    "writer_listen",
    "region_pools",
];
const VALUES: [&str; 18] = [
    "\"p\"",
    "\"${PG_PASSWORD}\"",
    "\"a${PG_PASSWORD}b\"",
    "\"x\\ny\"",
    "\"\"",
    "\"0.0.0.0:9090\"",
    "\"127.0.0.1:6432\"",
    "\"5s\"",
    "\"postgres\"",
    "\"http\"",
    "\"host=h user=u password='${PG_PASSWORD}'\"",
    "\"host=h user=u password=${PG_PASSWORD}\"",
    "[\"p\"]",
    "[{ name = \"a\", address = \"127.0.0.1:1\" }]",
    "[{ name = \"n1\", dsn = \"host=a user=u\" }, { name = \"n2\", dsn = \"${PG_PASSWORD}\" }]",
    "{ eu = [\"p\"] }",
    "1",
    "true",
];
/// Pieces of a connection string, and of the password a variable holds.
const DSN_PIECES: [&str; 12] = [
    "host=h ",
    "user=u ",
    "port=",
    "password=",
    "${PG_PASSWORD}",
    "'",
    " ",
    "=",
    "w0rd",
    "5432",
    "\\\\",
    "sslmode=disable ",
];
const PASSWORD_PIECES: [&str; 6] = ["SECRET", "'", " ", "=", "\\", "x"];

/// Parses `text` with `PG_PASSWORD` set to `password` and checks the diagnostics: sane
/// positions, one line each, and never the `SECRET` the password holds.
fn check(text: &str, password: &str) {
    let env = env(&[("PG_PASSWORD", password)]);
    let Err(diagnostics) = parse(Path::new(FILE), text, &env) else {
        return;
    };
    let lines = text.split('\n').count();
    for diagnostic in &diagnostics {
        assert!(
            (1..=lines).contains(&diagnostic.line),
            "{diagnostic} in {text:?}"
        );
        let line = text.split('\n').nth(diagnostic.line - 1).unwrap_or("");
        assert!(
            (1..=line.chars().count() + 1).contains(&diagnostic.col),
            "{diagnostic} in {text:?}"
        );
        assert!(!diagnostic.message.is_empty(), "{text:?}");
        assert!(!diagnostic.message.contains('\n'), "{diagnostic:?}");
        assert!(!diagnostic.message.contains("SECRET"), "{diagnostic:?}");
    }
}

/// `text` with `count` bytes at `at` (modulo its length) replaced by `with`, cut at character
/// boundaries.
fn mutated(text: &str, at: usize, count: usize, with: &str) -> String {
    let mut start = at % (text.len() + 1);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + count).min(text.len());
    while !text.is_char_boundary(end) {
        end += 1;
    }
    format!("{}{with}{}", &text[..start], &text[end..])
}

/// A word of `pieces` by index.
fn joined(pieces: &[&str], picks: &[usize]) -> String {
    picks.iter().map(|&i| pieces[i % pieces.len()]).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        check(&String::from_utf8_lossy(&bytes), "SECRET");
    }

    #[test]
    fn random_sections(
        sections in proptest::collection::vec(
            (any::<usize>(), proptest::collection::vec((any::<usize>(), any::<usize>()), 0..6)),
            0..8,
        ),
        password in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut text = String::new();
        for (section, lines) in sections {
            text.push_str(SECTIONS[section % SECTIONS.len()]);
            text.push('\n');
            for (key, value) in lines {
                let (key, value) = (KEYS[key % KEYS.len()], VALUES[value % VALUES.len()]);
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        check(&text, &format!("SECRET{}", joined(&PASSWORD_PIECES, &password)));
    }

    #[test]
    fn random_connection_strings(
        dsn in proptest::collection::vec(any::<usize>(), 0..12),
        password in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let dsn = joined(&DSN_PIECES, &dsn);
        let text = format!(
            "[[cluster]]\nname = \"c\"\nkind = \"postgres\"\n[[cluster.nodes]]\nname = \"a\"\n\
             dsn = \"{dsn}\"\n[[cluster.nodes]]\nname = \"b\"\ndsn = \"host=b user=u\"\n"
        );
        let password = format!("{}SECRET{}", joined(&PASSWORD_PIECES, &password), joined(&PASSWORD_PIECES, &password));
        check(&text, &password);
    }

    #[test]
    fn mutations_of_the_example(
        edits in proptest::collection::vec((any::<usize>(), 0..8usize, any::<usize>()), 1..4)
    ) {
        let mut text = EXAMPLE.to_string();
        for (at, count, value) in edits {
            text = mutated(&text, at, count, VALUES[value % VALUES.len()]);
        }
        check(&text, "SECRET");
    }
}
