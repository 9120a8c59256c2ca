//! Unknown keys: every one of them, at its own position.
//!
//! `serde(deny_unknown_fields)` stops at the first unknown key and cannot say where it is. Instead
//! the raw structs accept anything, `serde_ignored` hands over the path of every key they did not
//! use, and this module finds each path's key in the spanned document.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The serde field name `Spanned<T>` wraps its value in; not a key of the document.
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";

/// One step of a path into the document.
#[derive(Debug)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

/// An ignored key: where it is, and the message for it.
pub(crate) struct UnknownKey {
    pub at: usize,
    pub message: String,
}

/// Turns a `serde_ignored` path into document steps.
pub(crate) fn steps(path: &serde_ignored::Path<'_>) -> Vec<Step> {
    let mut steps = Vec::new();
    push_steps(path, &mut steps);
    steps
}

fn push_steps(path: &serde_ignored::Path<'_>, steps: &mut Vec<Step>) {
    use serde_ignored::Path;
    match path {
        Path::Root => {}
        Path::Seq { parent, index } => {
            push_steps(parent, steps);
            steps.push(Step::Index(*index));
        }
        Path::Map { parent, key } => {
            push_steps(parent, steps);
            if key != SPANNED_VALUE {
                steps.push(Step::Key(key.clone()));
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => {
            push_steps(parent, steps);
        }
    }
}

/// Locates the key that `steps` ends with and describes it.
pub(crate) fn locate(document: &Spanned<DeTable<'_>>, steps: &[Step]) -> UnknownKey {
    let section = steps
        .iter()
        .take(steps.len().saturating_sub(1))
        .filter_map(|step| match step {
            Step::Key(key) => Some(key.as_str()),
            Step::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".");
    let key = match steps.last() {
        Some(Step::Key(key)) => key.as_str(),
        _ => "",
    };
    let message = if section.is_empty() {
        format!("unknown key `{key}`")
    } else {
        format!("unknown key `{key}` in `{section}`")
    };
    UnknownKey {
        at: key_offset(document.get_ref(), steps).unwrap_or(document.span().start),
        message,
    }
}

fn key_offset(table: &DeTable<'_>, steps: &[Step]) -> Option<usize> {
    let (Step::Key(key), rest) = steps.split_first()? else {
        return None;
    };
    let (spanned_key, value) = table.get_key_value(key.as_str())?;
    if rest.is_empty() {
        return Some(spanned_key.span().start);
    }
    value_offset(value.get_ref(), rest)
}

fn value_offset(value: &DeValue<'_>, steps: &[Step]) -> Option<usize> {
    match (value, steps.first()?) {
        (DeValue::Table(table), Step::Key(_)) => key_offset(table, steps),
        (DeValue::Array(items), Step::Index(index)) => {
            value_offset(items.get(*index)?.get_ref(), &steps[1..])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_in_tables_and_arrays() {
        let text = "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", wieght = 2 }]\n";
        let document = DeTable::parse(text).unwrap();
        let steps = [
            Step::Key("pool".into()),
            Step::Index(0),
            Step::Key("origins".into()),
            Step::Index(0),
            Step::Key("wieght".into()),
        ];
        let unknown = locate(&document, &steps);
        assert_eq!(&text[unknown.at..unknown.at + 6], "wieght");
        assert_eq!(unknown.message, "unknown key `wieght` in `pool.origins`");
    }
}
