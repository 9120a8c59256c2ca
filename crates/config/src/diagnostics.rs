//! What went wrong and where: `FILE:LINE:COL: error: MESSAGE`, every problem at once.
//!
//! Validation never stops at the first problem. It pushes each one into a [`Report`] by byte
//! offset; the report turns offsets into 1-based lines and columns (columns count characters, not
//! bytes) and sorts them by position, so a user fixes a whole file in one pass.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a config file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{col}: error: {message}", file.display())]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is the file itself (it could not be read).
    pub line: usize,
    /// 1-based, in characters; 0 when `line` is 0.
    pub col: usize,
    /// One line. Never contains a secret.
    pub message: String,
}

/// Every problem found in a config file, sorted by position. Never empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics(Vec<Diagnostic>);

/// Collects problems by byte offset while a file is checked.
pub(crate) struct Report<'a> {
    file: &'a Path,
    text: &'a str,
    found: Vec<(usize, String)>,
    /// Strings whose `${VAR}` expansion failed: later problems inside them are consequences, so
    /// they are not reported a second time.
    muted: Vec<Range<usize>>,
}

// === impl Diagnostic ===

impl Diagnostic {
    /// A problem with the file as a whole, such as being unreadable.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
        }
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
        }
    }

    /// Records a problem at byte offset `at`.
    pub(crate) fn error(&mut self, at: usize, message: impl Into<String>) {
        if !self.muted.iter().any(|span| span.contains(&at)) {
            self.found.push((at, message.into()));
        }
    }

    /// Records a problem at byte offset `at` and silences later ones inside `span`.
    pub(crate) fn error_and_mute(&mut self, span: Range<usize>, message: impl Into<String>) {
        self.error(span.start, message);
        self.muted.push(span);
    }

    /// The 1-based line of byte offset `at`.
    pub(crate) fn line_of(&self, at: usize) -> usize {
        position(self.text, at).0
    }

    /// `Ok(value)` when nothing was found, otherwise every problem sorted by position.
    ///
    /// `value` is `None` only when a problem was recorded, so the fallback message below is a
    /// guard, not a path users see.
    pub(crate) fn finish<T>(self, value: Option<T>) -> Result<T, Diagnostics> {
        match value {
            Some(value) if self.found.is_empty() => Ok(value),
            _ => {
                let mut found = self.found;
                if found.is_empty() {
                    found.push((0, "the configuration is invalid".to_string()));
                }
                found.sort_by_key(|(at, _)| *at);
                let diagnostics = found
                    .into_iter()
                    .map(|(at, message)| {
                        let (line, col) = position(self.text, at);
                        Diagnostic {
                            file: self.file.to_path_buf(),
                            line,
                            col,
                            message,
                        }
                    })
                    .collect();
                Err(Diagnostics(diagnostics))
            }
        }
    }
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
