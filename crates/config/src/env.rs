//! `${VAR}` expansion, behind an [`Env`] trait so tests never touch the process environment.
//!
//! Expansion runs on the parsed document before anything reads it, so every string value in every
//! section gets it for free, and a new section needs nothing here. Messages name the variable,
//! never a value: the values are often secrets.

use std::collections::HashMap;
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostics::Report;

/// A string after expansion, and the byte ranges of it that are variables' values.
pub(crate) type Expanded = (String, Vec<Range<usize>>);

/// Where `${VAR}` values come from.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment (`std::env`).
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessEnv;

// === impl ProcessEnv ===

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

// === impl HashMap ===

impl Env for HashMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// A string value after expansion, and which bytes of it came from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expansion {
    /// The span of the string in the file.
    pub span: Range<usize>,
    /// The string after expansion.
    pub text: String,
    /// Byte ranges of `text` that are a variable's value: they may be secrets, so no message
    /// quotes any part of them.
    pub from_env: Vec<Range<usize>>,
}

/// Expands every string value in `table` in place, and records in `report` what each expanded
/// string took from `env`, so later messages can avoid echoing it.
pub(crate) fn expand_document(
    table: &mut Spanned<DeTable<'_>>,
    env: &dyn Env,
    report: &mut Report<'_>,
) {
    let mut expanded = Vec::new();
    expand_table(table.get_mut(), env, report, &mut expanded);
    report.set_expansions(expanded);
}

fn expand_table(
    table: &mut DeTable<'_>,
    env: &dyn Env,
    report: &mut Report<'_>,
    expanded: &mut Vec<Expansion>,
) {
    for (_, value) in table.iter_mut() {
        expand_value(value, env, report, expanded);
    }
}

fn expand_value(
    value: &mut Spanned<DeValue<'_>>,
    env: &dyn Env,
    report: &mut Report<'_>,
    expanded: &mut Vec<Expansion>,
) {
    let span = value.span();
    match value.get_mut() {
        DeValue::String(text) => match expand(text, env) {
            Ok(Some((new, from_env))) => {
                *text = new.clone().into();
                expanded.push(Expansion {
                    span,
                    text: new,
                    from_env,
                });
            }
            Ok(None) => {}
            Err(message) => report.error_and_mute(span, message),
        },
        DeValue::Array(items) => {
            for item in items.iter_mut() {
                expand_value(item, env, report, expanded);
            }
        }
        DeValue::Table(table) => expand_table(table, env, report, expanded),
        DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) | DeValue::Datetime(_) => {}
    }
}

/// Replaces each `${NAME}` in `text` with `env`'s value; `$${` stands for a literal `${`.
/// Returns the new text and the byte ranges of it that are variables' values, or `Ok(None)`
/// when `text` has nothing to replace.
pub(crate) fn expand(text: &str, env: &dyn Env) -> Result<Option<Expanded>, String> {
    if !text.contains("${") {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut from_env = Vec::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let close = tail
                .find('}')
                .ok_or("`${` without a closing `}` (write `$${` for a literal `${`)")?;
            let name = &tail[..close];
            if !is_var_name(name) {
                return Err(
                    "`${...}` must hold a variable name (letters, digits and `_`)".to_string(),
                );
            }
            let value = env
                .var(name)
                .ok_or_else(|| format!("environment variable `{name}` is not set"))?;
            from_env.push(out.len()..out.len() + value.len());
            out.push_str(&value);
            rest = &tail[close + 1..];
        } else {
            out.push('$');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    Ok(Some((out, from_env)))
}

fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> HashMap<String, String> {
        HashMap::from([
            ("HOST".to_string(), "db".to_string()),
            ("EMPTY".to_string(), String::new()),
        ])
    }

    #[test]
    fn replaces_variables_and_keeps_the_rest() {
        assert_eq!(expand("plain $5", &env()), Ok(None));
        assert_eq!(
            expand("${HOST}:5432/${EMPTY}x$y${HOST}", &env()).unwrap(),
            Some(("db:5432/x$ydb".to_string(), vec![0..2, 8..8, 11..13]))
        );
        assert_eq!(
            expand("$${HOST}", &env()).unwrap(),
            Some(("${HOST}".to_string(), vec![]))
        );
    }

    #[test]
    fn names_the_missing_variable() {
        assert_eq!(
            expand("a${NOPE}b", &env()),
            Err("environment variable `NOPE` is not set".to_string())
        );
    }

    #[test]
    fn rejects_malformed_references() {
        assert!(expand("${HOST", &env()).is_err());
        assert!(expand("${}", &env()).is_err());
        assert!(expand("${1X}", &env()).is_err());
    }
}
