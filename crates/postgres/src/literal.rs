//! Text built for PostgreSQL without parameters (`ALTER SYSTEM` takes none): SQL string literals
//! and the `primary_conninfo` value, quoted so that no value can end the literal early; and
//! conninfo strings read back into their pairs.

use lifeline_model::PgDsn;

/// `text` as a SQL escape string literal (`E'...'`): quotes doubled, backslashes doubled. Its
/// meaning does not depend on `standard_conforming_strings`.
pub(crate) fn sql_literal(text: &str) -> String {
    format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

/// The conninfo a standby streams from `primary` with: the primary's connection string, password
/// included, and `application_name` last (libpq lets a later key win). Secret: never log it.
pub(crate) fn primary_conninfo(primary: &PgDsn, application_name: &str) -> String {
    format!(
        "{} application_name={}",
        primary.conninfo_with_secret(),
        conninfo_value(application_name)
    )
}

/// `conninfo` with `application_name` set to `name` (appended: libpq lets a later key win), or
/// `None` when it already ends so.
pub(crate) fn with_application_name(conninfo: &str, name: &str) -> Option<String> {
    let suffix = format!("application_name={}", conninfo_value(name));
    if conninfo.trim_end().ends_with(&suffix) {
        return None;
    }
    Some(format!("{} {suffix}", conninfo.trim_end()))
}

/// `key=value` pairs of a conninfo string; a value may be single-quoted with `\'` and `\\`
/// escapes, as libpq reads it.
pub(crate) fn conninfo_pairs(conninfo: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && !c.is_whitespace())).collect();
        if key.is_empty() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            return pairs;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '\'' => break,
                    c => value.push(c),
                }
            }
        } else {
            value.extend(std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())));
        }
        pairs.push((key, value));
    }
}

/// A conninfo value, single-quoted with `\'` and `\\` escapes when it needs quoting (as libpq
/// reads it).
fn conninfo_value(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '\\') {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_conninfo_pairs_and_sets_the_application_name() {
        let pairs = conninfo_pairs(r"host=h  port = 5 password='a b\'c' x=");
        let expected = [
            ("host", "h"),
            ("port", "5"),
            ("password", "a b'c"),
            ("x", ""),
        ];
        assert_eq!(pairs, expected.map(|(k, v)| (k.to_string(), v.to_string())));
        assert_eq!(
            with_application_name("host=h user=u ", "pg 2").as_deref(),
            Some("host=h user=u application_name='pg 2'")
        );
        assert_eq!(
            with_application_name("host=h application_name=pg2", "pg2"),
            None
        );
    }

    #[test]
    fn escapes_sql_literals() {
        assert_eq!(sql_literal("ANY 1 (pg2, pg3)"), "E'ANY 1 (pg2, pg3)'");
        assert_eq!(sql_literal(r"a'b\c"), r"E'a''b\\c'");
        assert_eq!(sql_literal(""), "E''");
    }

    #[test]
    fn builds_primary_conninfo_with_a_quoted_application_name() {
        let dsn =
            PgDsn::parse("host=10.0.0.1 port=5433 user=rep password='p w\\'d' dbname=postgres")
                .unwrap();
        let conninfo = primary_conninfo(&dsn, "pg 2");
        assert_eq!(
            conninfo,
            r"host=10.0.0.1 port=5433 user=rep password='p w\'d' dbname=postgres application_name='pg 2'"
        );
        assert_eq!(
            sql_literal(&conninfo),
            r"E'host=10.0.0.1 port=5433 user=rep password=''p w\\''d'' dbname=postgres application_name=''pg 2'''"
        );
        assert_eq!(
            primary_conninfo(&dsn, "pg2").rsplit(' ').next(),
            Some("application_name=pg2")
        );
    }
}
