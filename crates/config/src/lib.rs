//! `lifeline.toml` to a validated [`Topology`]: spans, `${VAR}`, every diagnostic at once.
//!
//! The pipeline is staged, each stage in its own module:
//!
//! 1. parse the TOML into a spanned document (a syntax error stops here);
//! 2. expand `${VAR}` in every string value from an [`Env`] (`env.rs`);
//! 3. deserialize into the raw structs (`raw.rs`), collecting every unknown key (`unknown.rs`);
//! 4. check what serde cannot and build the [`Topology`] (`validate/`).
//!
//! Every problem becomes a [`Diagnostic`] with file, line and column, and all of them are
//! returned together, sorted by position. Messages never contain a secret.

mod diagnostics;
mod env;
mod raw;
mod unknown;
mod validate;

#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::Path;

use lifeline_model::Topology;
use toml::de::{DeTable, Deserializer};

pub use diagnostics::{Diagnostic, Diagnostics};
pub use env::{Env, ProcessEnv};

use diagnostics::Report;
use raw::RawConfig;

/// Reads and checks the config file at `path`. `check` and `run` share this.
pub fn load(path: &Path, env: &dyn Env) -> Result<Topology, Diagnostics> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Diagnostic::whole_file(path, format!("cannot read the file: {error}")))?;
    parse(path, &text, env)
}

/// Checks the config `text`. `file` names it in diagnostics, and relative paths in it (such as
/// `state_file`) are resolved against `file`'s directory.
pub fn parse(file: &Path, text: &str, env: &dyn Env) -> Result<Topology, Diagnostics> {
    let mut report = Report::new(file, text);
    let mut document = match DeTable::parse(text) {
        Ok(document) => document,
        Err(error) => {
            let at = error.span().map_or(0, |span| span.start);
            report.error(at, error.message());
            return report.finish(None);
        }
    };
    let expanded = env::expand_document(&mut document, env, &mut report);

    let mut ignored = Vec::new();
    let raw: Result<RawConfig, _> =
        serde_ignored::deserialize(Deserializer::from(document.clone()), |path| {
            ignored.push(unknown::steps(&path));
        });
    for steps in &ignored {
        let unknown = unknown::locate(&document, steps);
        report.error(unknown.at, unknown.message);
    }

    let topology = match raw {
        Ok(raw) => validate::topology(&raw, file, &mut report),
        Err(error) => {
            let (at, message) = type_error(&error, &expanded);
            report.error(at, message);
            None
        }
    };
    report.finish(topology)
}

/// Rust type names in serde's messages, in TOML's words.
const TOML_WORDS: [(&str, &str); 2] = [
    ("expected i64", "expected an integer"),
    ("expected a sequence", "expected an array"),
];

/// Position and message of a deserialization error. A value that came from the environment may be
/// a secret, so its message keeps only what was expected.
fn type_error(error: &toml::de::Error, expanded: &[Range<usize>]) -> (usize, String) {
    let span = error.span().unwrap_or_default();
    let mut message = error.message().to_string();
    for (rust, toml) in TOML_WORDS {
        message = message.replace(rust, toml);
    }
    if expanded.contains(&span) {
        let expected = message
            .split_once(", expected ")
            .map_or("another type", |(_, e)| e);
        message =
            format!("invalid type for a value taken from the environment, expected {expected}");
    }
    (span.start, message)
}
