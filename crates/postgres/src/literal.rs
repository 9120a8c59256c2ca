//! Text built for PostgreSQL without parameters (`ALTER SYSTEM` takes none): SQL string literals
//! and the `primary_conninfo` value, quoted so that no value can end the literal early.

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
