//! [`run_rejoin`]: the configured shell command that makes a node (an old primary) a standby of
//! the current primary, run with `sh -c` in its own process group and killed with the whole group
//! when it runs too long.

use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lifeline_model::{ClusterNode, Secret};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::error::{PgError, scrub};

/// How many of the last output lines an error carries.
const OUTPUT_LINES: usize = 10;

/// How much of the output is kept while reading (the end of it).
const OUTPUT_KEEP: usize = 64 * 1024;

/// How long output is still read once the command has ended: a server it started may hold the
/// pipes open for good.
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Runs `command` with `{node}`, `{host}`, `{port}`, `{primary_host}` and `{primary_port}`
/// replaced (each value quoted for `sh` when it needs quoting) under `sh -c`, for at most
/// `timeout`. A failure carries the exit status and the last lines of stdout then stderr, with
/// both nodes' passwords scrubbed. The command line itself is never logged: it may hold a secret.
pub async fn run_rejoin(
    command: &str,
    node: &ClusterNode,
    primary: &ClusterNode,
    timeout: Duration,
) -> Result<(), PgError> {
    let line = expand(
        command,
        &[
            ("node", node.name.as_str()),
            ("host", &crate::dsn(node).host),
            ("port", &crate::dsn(node).port.to_string()),
            ("primary_host", &crate::dsn(primary).host),
            ("primary_port", &crate::dsn(primary).port.to_string()),
        ],
    );
    let secrets: Vec<&str> = [&crate::dsn(node).password, &crate::dsn(primary).password]
        .into_iter()
        .flatten()
        .map(Secret::expose)
        .collect();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(&line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| PgError::RejoinSpawn {
            node: node.name.clone(),
            message: scrub(&err.to_string(), &secrets),
        })?;
    let stdout = Output::capture(child.stdout.take());
    let stderr = Output::capture(child.stderr.take());
    let waited = tokio::time::timeout(timeout, child.wait()).await;
    if waited.is_err() {
        kill_group(&mut child).await;
    }
    let output = format!("{}\n{}", stdout.finish().await, stderr.finish().await);
    let output = scrub(&last_lines(&output, OUTPUT_LINES), &secrets);
    match waited {
        Ok(Ok(status)) if status.success() => {
            tracing::info!(node = %node.name, primary = %primary.name, "rejoin command succeeded");
            tracing::debug!(node = %node.name, %output, "rejoin command output");
            Ok(())
        }
        Ok(Ok(status)) => Err(PgError::RejoinFailed {
            node: node.name.clone(),
            status,
            output,
        }),
        Ok(Err(err)) => Err(PgError::RejoinSpawn {
            node: node.name.clone(),
            message: scrub(&err.to_string(), &secrets),
        }),
        Err(_) => Err(PgError::RejoinTimeout {
            node: node.name.clone(),
            after: timeout,
            output,
        }),
    }
}

/// SIGKILLs the command's whole process group (it leads it), then reaps the shell.
async fn kill_group(child: &mut Child) {
    if let Some(pid) = child.id() {
        let killed = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -KILL -{pid}"))
            .stdin(Stdio::null())
            .status()
            .await;
        if let Err(err) = killed {
            tracing::warn!(pid, error = %err, "cannot kill the rejoin command's process group");
        }
    }
    if let Err(err) = child.kill().await {
        tracing::warn!(error = %err, "cannot kill the rejoin command");
    }
}

/// One output pipe, read in the background into a buffer that keeps its last [`OUTPUT_KEEP`]
/// bytes, so that whatever arrived is there even if the pipe never closes.
struct Output {
    buffer: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
}

// === impl Output ===

impl Output {
    fn capture(pipe: Option<impl AsyncRead + Unpin + Send + 'static>) -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let reader = pipe.map(|mut pipe| {
            let buffer = Arc::clone(&buffer);
            tokio::spawn(async move {
                let mut chunk = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
                    let mut buffer = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                    buffer.extend_from_slice(&chunk[..n]);
                    let excess = buffer.len().saturating_sub(OUTPUT_KEEP);
                    buffer.drain(..excess);
                }
            })
        });
        Self { buffer, reader }
    }

    /// What was read, once the pipe closed or [`OUTPUT_GRACE`] passed.
    async fn finish(self) -> String {
        if let Some(mut reader) = self.reader
            && tokio::time::timeout(OUTPUT_GRACE, &mut reader)
                .await
                .is_err()
        {
            reader.abort();
        }
        let buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&buffer).into_owned()
    }
}

/// `template` with each `{key}` of `values` replaced by its value quoted for `sh`, in one pass
/// (a value that looks like a placeholder stays as it is). Unknown `{...}` are left alone.
fn expand(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 1..];
        let found = values.iter().find(|(key, _)| {
            tail.strip_prefix(key)
                .is_some_and(|after| after.starts_with('}'))
        });
        match found {
            Some((key, value)) => {
                out.push_str(&sh_word(value));
                rest = &tail[key.len() + 1..];
            }
            None => {
                out.push('{');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `value` as one `sh` word: as it is when it only has harmless characters, else single-quoted.
fn sh_word(value: &str) -> String {
    let harmless = |c: char| c.is_ascii_alphanumeric() || "._-:/@%+=,".contains(c);
    if !value.is_empty() && value.chars().all(harmless) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The last `n` non-empty lines of `text`, joined by ` | ` for one log line or event.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|line| !line.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_placeholders_once_and_quotes_values() {
        let values = [
            ("node", "pg1"),
            ("host", "db one"),
            ("port", "5432"),
            ("primary_host", "10.0.0.2"),
            ("primary_port", "{port}"),
        ];
        assert_eq!(
            expand(
                "rejoin {node} {host}:{port} from {primary_host}:{primary_port} {other} {",
                &values
            ),
            "rejoin pg1 'db one':5432 from 10.0.0.2:'{port}' {other} {"
        );
    }

    #[test]
    fn quotes_shell_words() {
        assert_eq!(sh_word("127.0.0.1"), "127.0.0.1");
        assert_eq!(sh_word("it's"), r"'it'\''s'");
        assert_eq!(sh_word(""), "''");
        assert_eq!(sh_word("$(x)"), "'$(x)'");
    }

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b | c");
        assert_eq!(last_lines("", 3), "");
    }
}
