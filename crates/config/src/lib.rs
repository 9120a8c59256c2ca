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

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use lifeline_model::Topology;
use toml::Spanned;
use toml::de::{DeTable, Deserializer};

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use env::{Env, ProcessEnv};

use diagnostics::Report;
use raw::RawConfig;

/// The largest config file read, in bytes: a bigger one is refused before it is read.
const MAX_FILE_SIZE: u64 = 4 << 20;

/// A valid config file: its [`Topology`], and what deserves a warning (shown, never fatal).
#[derive(Debug)]
pub struct Loaded {
    pub topology: Topology,
    /// Sorted by position; each has [`Severity::Warning`].
    pub warnings: Vec<Diagnostic>,
}

/// Reads and checks the config file at `path`. `check` and `run` share this.
///
/// Only a regular file of at most 4 MiB is read: a FIFO or a device would make `check` wait
/// forever or read without end.
pub fn load(path: &Path, env: &dyn Env) -> Result<Loaded, Diagnostics> {
    let text = read(path).map_err(|message| Diagnostic::whole_file(path, message))?;
    parse(path, &text, env)
}

fn read(path: &Path) -> Result<String, String> {
    // Non-blocking, so that opening a FIFO does not wait for a writer.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| format!("cannot read the file: {error}"))?;
    let metadata = file
        .metadata()
        .map_err(|error| format!("cannot read the file: {error}"))?;
    if !metadata.is_file() {
        return Err("not a regular file (a directory, FIFO, socket or device); \
                    the config must be a file"
            .to_string());
    }
    if metadata.len() > MAX_FILE_SIZE {
        return Err(format!(
            "the file has {} bytes, more than the {MAX_FILE_SIZE} a config may have",
            metadata.len()
        ));
    }
    let mut text = String::new();
    file.take(MAX_FILE_SIZE)
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read the file: {error}"))?;
    Ok(text)
}

/// Checks the config `text`. `file` names it in diagnostics, and relative paths in it (such as
/// `state_file`) are resolved against `file`'s directory.
pub fn parse(file: &Path, text: &str, env: &dyn Env) -> Result<Loaded, Diagnostics> {
    let mut report = Report::new(file, text);
    let topology = match DeTable::parse(text) {
        Ok(document) => check(document, file, env, &mut report),
        Err(error) => {
            let at = error.span().map_or(0, |span| span.start);
            report.error(at, error.message());
            None
        }
    };
    let (topology, warnings) = report.finish(topology)?;
    Ok(Loaded { topology, warnings })
}

/// Stages 2 to 4, on a document that is valid TOML.
fn check(
    mut document: Spanned<DeTable<'_>>,
    file: &Path,
    env: &dyn Env,
    report: &mut Report<'_>,
) -> Option<Topology> {
    env::expand_document(&mut document, env, report);

    let mut ignored = Vec::new();
    let raw: Result<RawConfig, _> =
        serde_ignored::deserialize(Deserializer::from(document.clone()), |path| {
            ignored.push(unknown::steps(&path));
        });
    for steps in &ignored {
        let unknown = unknown::locate(&document, steps);
        report.error(unknown.at, unknown.message);
    }

    match raw {
        Ok(raw) => validate::topology(&raw, file, report),
        Err(error) => {
            let (at, message) = type_error(&error, report);
            report.error(at, message);
            None
        }
    }
}

/// Rust type names in serde's messages, in TOML's words.
const TOML_WORDS: [(&str, &str); 2] = [
    ("expected i64", "expected an integer"),
    ("expected a sequence", "expected an array"),
];

/// Position and message of a deserialization error. A value that came from the environment may be
/// a secret, so its message keeps only what was expected.
fn type_error(error: &toml::de::Error, report: &Report<'_>) -> (usize, String) {
    let span = error.span().unwrap_or_default();
    let mut message = error.message().to_string();
    for (rust, toml) in TOML_WORDS {
        message = message.replace(rust, toml);
    }
    if !report.env_ranges(&span).is_empty() {
        let expected = message
            .split_once(", expected ")
            .map_or("another type", |(_, e)| e);
        message =
            format!("invalid type for a value taken from the environment, expected {expected}");
    }
    (span.start, message)
}
