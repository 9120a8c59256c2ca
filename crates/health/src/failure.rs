//! One-line failure messages from error chains.

use std::error::Error;
use std::io;

/// Every message of an error chain, joined by `: ` on one line. A message that the previous
/// one already contains is skipped.
pub(crate) fn describe(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in causes(err) {
        let text = cause.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
    }
    one_line(&parts.join(": "))
}

/// `err` and every error under it. Inside an `io::Error` the wrapped error itself comes next (its
/// `source()` would skip straight to the wrapped error's source), so a rustls error wrapped in two
/// `io::Error`s is still found.
pub(crate) fn causes<'a>(
    err: &'a (dyn Error + 'static),
) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&err: &&'a (dyn Error + 'static)| match err
        .downcast_ref::<io::Error>()
    {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
        None => err.source(),
    })
}

/// Folds line breaks (PostgreSQL's `DETAIL:` and `HINT:` lines) into spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|layer| layer as _)
        }
    }

    #[test]
    fn describes_a_chain_on_one_line() {
        let inner = Layer("FATAL: no\nDETAIL: really", None);
        let err = Layer("db error", Some(Box::new(inner)));
        assert_eq!(describe(&err), "db error: FATAL: no DETAIL: really");
    }

    #[test]
    fn skips_repeated_messages() {
        let err = Layer("refused", Some(Box::new(Layer("refused", None))));
        assert_eq!(describe(&err), "refused");
    }

    #[test]
    fn looks_inside_io_errors() {
        let inner = io::Error::new(io::ErrorKind::InvalidData, Layer("bad certificate", None));
        let outer = io::Error::other(inner);
        assert!(causes(&outer).any(|cause| cause.is::<Layer>()));
        assert_eq!(describe(&outer), "bad certificate");
    }
}
