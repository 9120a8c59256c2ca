//! What went wrong and where: `FILE:LINE:COL: error: MESSAGE`, every problem at once.
//!
//! Validation never stops at the first problem. It pushes each one into a [`Report`] by byte
//! offset; the report turns offsets into 1-based lines and columns (columns count characters, not
//! bytes) and sorts them by position, so a user fixes a whole file in one pass. It is also the
//! last guard on what a message shows: a quoted part that may be a piece of a `${VAR}` value is
//! hidden, and control characters are escaped, so a message is one line without a secret.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::env::Expansion;

/// Shown instead of a quoted part of a message that may be a piece of a variable's value.
const HIDDEN: &str = "(a value from the environment, not shown)";
/// A variable's value this long or longer is hidden wherever a message quotes it; a shorter one
/// only in messages about the string it is in, as it could be any short word.
const MIN_HIDDEN_LEN: usize = 3;

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: {severity}: {message}", file.display())]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file itself (it could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 when `line` is 0.
    pub col: usize,
    pub severity: Severity,
    /// One line. Never contains a secret.
    pub message: String,
}

/// An error makes the file unusable; a warning is shown, and the file is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// Every problem found in a config file, sorted by position. Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

/// Collects problems by byte offset while a file is checked.
pub(crate) struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<(usize, Severity, String)>,
    /// Strings whose `${VAR}` expansion failed: later problems inside them are consequences, so
    /// they are not reported a second time.
    muted: Vec<Range<usize>>,
    /// Every string that took a value from the environment.
    expansions: Vec<Expansion>,
}

// === impl Diagnostic ===

impl Diagnostic {
    /// A problem with the file as a whole, such as being unreadable.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            severity: Severity::Error,
            message: message.into(),
        }
    }
}

// === impl Severity ===

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

// === impl Diagnostics ===

impl Diagnostics {
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `Diagnostics` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(diagnostic: Diagnostic) -> Self {
        Self(vec![diagnostic])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

// === impl Report ===

impl<'a> Report<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Self {
        Self {
            file,
            text,
            found: Vec::new(),
            muted: Vec::new(),
            expansions: Vec::new(),
        }
    }

    /// Records a problem at byte offset `at`.
    pub(crate) fn error(&mut self, at: usize, message: impl Into<String>) {
        self.push(at, Severity::Error, message.into());
    }

    /// Records a warning at byte offset `at`: the file is still used.
    pub(crate) fn warn(&mut self, at: usize, message: impl Into<String>) {
        self.push(at, Severity::Warning, message.into());
    }

    fn push(&mut self, at: usize, severity: Severity, message: String) {
        if !self.muted.iter().any(|span| span.contains(&at)) {
            let message = self.cleaned(at, &message);
            self.found.push((at, severity, message));
        }
    }

    /// Records a problem at byte offset `at` and silences later ones inside `span`.
    pub(crate) fn error_and_mute(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.error(span.start, message);
        self.muted.push(span);
    }

    /// Remembers which strings took values from the environment.
    pub(crate) fn set_expansions(&mut self, expansions: Vec<Expansion>) {
        self.expansions = expansions;
    }

    /// The byte ranges of the string at `span`, after expansion, that came from the
    /// environment; empty when it took nothing from there.
    pub(crate) fn env_ranges(&self, span: &Range<usize>) -> &[Range<usize>] {
        self.expansions
            .iter()
            .find(|e| e.span == *span)
            .map_or(&[], |e| e.from_env.as_slice())
    }

    /// The 1-based line of byte offset `at`.
    pub(crate) fn line_of(&self, at: usize) -> usize {
        position(self.text, at).0
    }

    /// `message` at `at` as it may be shown: each part quoted in backticks that may be a piece
    /// of a variable's value is hidden, and control characters are escaped.
    fn cleaned(&self, at: usize, message: &str) -> String {
        let parts: Vec<&str> = message.split('`').collect();
        let mut out = String::with_capacity(message.len());
        for (i, part) in parts.iter().enumerate() {
            if i % 2 == 0 {
                out.push_str(part);
            } else if self.may_leak(at, part) {
                out.push_str(HIDDEN);
            } else {
                out.push('`');
                out.push_str(part);
                if i + 1 < parts.len() {
                    out.push('`');
                }
            }
        }
        let mut escaped = String::with_capacity(out.len());
        for c in out.chars() {
            if c.is_control() {
                escaped.extend(c.escape_default());
            } else {
                escaped.push(c);
            }
        }
        escaped
    }

    /// Whether `quoted`, in a message at `at`, may be a piece of a variable's value: it holds a
    /// whole value (of a few characters at least), or, in a message about a string that took
    /// one, it is a part of that string that overlaps one.
    fn may_leak(&self, at: usize, quoted: &str) -> bool {
        if quoted.is_empty() {
            return false;
        }
        self.expansions.iter().any(|e| {
            let overlaps = |start: usize| {
                let end = start + quoted.len();
                e.from_env.iter().any(|r| r.start < end && start < r.end)
            };
            let holds_a_value = e.from_env.iter().any(|r| {
                let value = &e.text[r.clone()];
                value.len() >= MIN_HIDDEN_LEN && quoted.contains(value)
            });
            holds_a_value
                || (e.span.contains(&at) && e.text.match_indices(quoted).any(|(i, _)| overlaps(i)))
        })
    }

    /// `Ok(value)` with the warnings when no error was found, otherwise every error sorted by
    /// position.
    ///
    /// `value` is `None` only when an error was recorded, so the fallback message below is a
    /// guard, not a path users see.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<(T, Vec<Diagnostic>), Diagnostics> {
        let (mut errors, mut warnings): (Vec<_>, Vec<_>) = self
            .found
            .into_iter()
            .partition(|(_, severity, _)| *severity == Severity::Error);
        let value = match value {
            Some(value) if errors.is_empty() => value,
            _ => {
                if errors.is_empty() {
                    let message = "the configuration is invalid".to_string();
                    errors.push((0, Severity::Error, message));
                }
                errors.sort_by_key(|(at, _, _)| *at);
                return Err(Diagnostics(diagnostics(self.file, self.text, errors)));
            }
        };
        warnings.sort_by_key(|(at, _, _)| *at);
        Ok((value, diagnostics(self.file, self.text, warnings)))
    }
}

fn diagnostics(file: &Path, text: &str, found: Vec<(usize, Severity, String)>) -> Vec<Diagnostic> {
    found
        .into_iter()
        .map(|(at, severity, message)| {
            let (line, col) = position(text, at);
            Diagnostic {
                file: file.to_path_buf(),
                line,
                col,
                severity,
                message,
            }
        })
        .collect()
}

/// 1-based line and character column of byte offset `at` in `text`.
fn position(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
    let line = before.matches('\n').count() + 1;
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let text = "a = 1\nbé = \"x\"\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 4), (1, 5));
        assert_eq!(position(text, 6), (2, 1));
        // `=` after the two-byte `é`: byte 10, character column 4.
        assert_eq!(position(text, 10), (2, 4));
        assert_eq!(position(text, 1000), (3, 1));
    }

    #[test]
    fn report_sorts_by_position_and_mutes_consequences() {
        let text = "a = 1\nb = 2\nc = 3\n";
        let mut report = Report::new(Path::new("x.toml"), text);
        report.error(12, "third");
        report.error_and_mute(6..11, "second");
        report.error(8, "muted");
        report.error(0, "first");
        let diagnostics = report.finish(Some(())).unwrap_err();
        assert_eq!(
            diagnostics.to_string(),
            "x.toml:1:1: error: first\nx.toml:2:1: error: second\nx.toml:3:1: error: third"
        );
    }
}
