//! Checks shared by every section: required keys, names, durations, integers, secrets.
//!
//! Each returns `None` after recording a problem, so callers check everything first and combine
//! the results last.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lifeline_model::Secret;
use toml::Spanned;

use crate::diagnostics::Report;
use crate::raw::Field;

/// Names of one kind (monitor, pool, origin, load balancer, cluster, node) seen so far, with where each was first defined.
pub(super) struct Names {
    kind: &'static str,
    first: HashMap<String, usize>,
}

// === impl Names ===

impl Names {
    pub(super) fn new(kind: &'static str) -> Self {
        Self {
            kind,
            first: HashMap::new(),
        }
    }

    /// Records `name`, reporting it when an earlier one has the same text.
    pub(super) fn claim(&mut self, name: &Spanned<String>, report: &mut Report<'_>) {
        let at = name.span().start;
        match self.first.get(name.get_ref()) {
            Some(&first) => report.error(
                at,
                format!(
                    "duplicate {} name `{}` (first defined on line {})",
                    self.kind,
                    name.get_ref(),
                    report.line_of(first)
                ),
            ),
            None => {
                self.first.insert(name.get_ref().clone(), at);
            }
        }
    }

    pub(super) fn contains(&self, name: &str) -> bool {
        self.first.contains_key(name)
    }

    /// Where `name` was first defined, if it was.
    pub(super) fn first(&self, name: &str) -> Option<usize> {
        self.first.get(name).copied()
    }
}

/// A key that must be present; `at` is the position of its table.
pub(super) fn required<'a, T>(
    field: &'a Field<T>,
    key: &str,
    section: &str,
    at: usize,
    report: &mut Report<'_>,
) -> Option<&'a Spanned<T>> {
    if field.is_none() {
        report.error(at, format!("missing `{key}` in {section}"));
    }
    field.as_ref()
}

/// A required, non-empty `name` without control characters: names end up in response headers,
/// log lines and the admin API, where a line break would forge a line.
pub(super) fn name<'a>(
    field: &'a Field<String>,
    section: &str,
    at: usize,
    report: &mut Report<'_>,
) -> Option<&'a Spanned<String>> {
    let name = required(field, "name", section, at, report)?;
    if name.get_ref().is_empty() {
        report.error(name.span().start, "`name` must not be empty");
        return None;
    }
    if let Some(message) = control_character(name.get_ref(), "`name`") {
        report.error(name.span().start, message);
        return None;
    }
    Some(name)
}

/// A message saying that `what` holds a control character (CR, LF, tab, ...), if it does. It
/// names the character, never the text around it.
pub(super) fn control_character(text: &str, what: &str) -> Option<String> {
    let (index, c) = text.chars().enumerate().find(|(_, c)| c.is_control())?;
    Some(format!(
        "{what} must not contain control characters such as line breaks or tabs (U+{:04X} at \
         character {})",
        u32::from(c),
        index + 1
    ))
}

/// The longest duration any setting takes: longer ones are mistakes, and a time this far ahead
/// no longer fits the clock's arithmetic (an `Instant` plus 300 billion years overflows).
const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A duration like `"500ms"` or `"5s"`, longer than zero.
pub(super) fn duration(
    field: &Field<String>,
    key: &str,
    default: Duration,
    report: &mut Report<'_>,
) -> Option<Duration> {
    parse_duration(field, key, default, false, report)
}

/// A duration that may be zero (`"0s"`), for settings that zero turns off.
pub(super) fn duration_or_zero(
    field: &Field<String>,
    key: &str,
    default: Duration,
    report: &mut Report<'_>,
) -> Option<Duration> {
    parse_duration(field, key, default, true, report)
}

fn parse_duration(
    field: &Field<String>,
    key: &str,
    default: Duration,
    zero_allowed: bool,
    report: &mut Report<'_>,
) -> Option<Duration> {
    let Some(text) = field else {
        return Some(default);
    };
    match humantime::parse_duration(text.get_ref()) {
        Ok(duration) if duration.is_zero() && !zero_allowed => {
            report.error(
                text.span().start,
                format!("`{key}` must be longer than zero"),
            );
            None
        }
        Ok(duration) if duration > MAX_DURATION => {
            report.error(
                text.span().start,
                format!("`{key}` must be at most 365 days"),
            );
            None
        }
        Ok(duration) => Some(duration),
        Err(_) => {
            report.error(
                text.span().start,
                format!(
                    "`{key}`: `{}` is not a duration like \"500ms\", \"5s\" or \"1m\"",
                    text.get_ref()
                ),
            );
            None
        }
    }
}

/// An integer within `range`.
pub(super) fn integer(
    field: &Field<i64>,
    key: &str,
    default: i64,
    range: RangeInclusive<i64>,
    report: &mut Report<'_>,
) -> Option<i64> {
    let Some(value) = field else {
        return Some(default);
    };
    let number = *value.get_ref();
    if range.contains(&number) {
        return Some(number);
    }
    let message = if number < *range.start() {
        format!("`{key}` must be at least {}, not {number}", range.start())
    } else {
        format!("`{key}` must be at most {}, not {number}", range.end())
    };
    report.error(value.span().start, message);
    None
}

/// An optional secret: a non-empty string. Messages never include the value.
pub(super) fn secret(
    field: &Field<toml::Value>,
    key: &str,
    report: &mut Report<'_>,
) -> Option<Option<Secret>> {
    let Some(value) = field else {
        return Some(None);
    };
    let at = value.span().start;
    match value.get_ref() {
        toml::Value::String(text) if text.is_empty() => {
            report.error(at, format!("`{key}` must not be empty"));
            None
        }
        toml::Value::String(text) => Some(Some(Secret::new(text.as_str()))),
        other => {
            report.error(
                at,
                format!("`{key}` must be a string, not {}", other.type_str()),
            );
            None
        }
    }
}

/// The position of a field when it is present.
pub(super) fn position<T>(field: &Field<T>) -> Option<usize> {
    field.as_ref().map(|value| value.span().start)
}

/// A TLS file that exists and can be read now, so that a wrong path stops the start rather
/// than the first connection.
pub(super) fn file(
    field: &Field<String>,
    key: &str,
    directory: &Path,
    report: &mut Report<'_>,
) -> Option<Option<PathBuf>> {
    let Some(text) = field else {
        return Some(None);
    };
    let path = directory.join(text.get_ref());
    let problem = match std::fs::metadata(&path) {
        Ok(meta) if !meta.is_file() => "is not a file".to_string(),
        Ok(_) => match std::fs::File::open(&path) {
            Ok(_) => return Some(Some(path)),
            Err(error) => format!("cannot be read: {error}"),
        },
        Err(error) => format!("cannot be read: {error}"),
    };
    report.error(
        text.span().start,
        format!("`{key}` `{}` {problem}", path.display()),
    );
    None
}
