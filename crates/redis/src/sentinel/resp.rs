//! RESP2, the Redis protocol as Sentinel speaks it to clients: commands in (arrays of bulk
//! strings, or inline lines as `redis-cli` and telnet send them) and replies out.
//!
//! Hand-written because the `redis` crate parses replies, not commands, and exports no codec;
//! the subset is small: a Sentinel's commands are a few short words.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// A command line or argument longer than this is refused: no Sentinel command comes near it.
const MAX_LINE: usize = 4 * 1024;
/// A command with more arguments than this is refused (a client's `CLIENT SETINFO` or
/// `SUBSCRIBE` of a few channels is the longest a Sentinel client sends).
const MAX_ARGUMENTS: usize = 64;

/// One reply, as RESP2 writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

/// Why a command could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection (or broke it).
    Closed,
    /// Not RESP: answered with an error, then the connection is closed, as Redis does.
    Protocol(String),
}

// === impl Reply ===

impl Reply {
    pub fn ok() -> Self {
        Reply::Simple("OK".into())
    }

    pub fn bulk(text: impl Into<String>) -> Self {
        Reply::Bulk(Some(text.into()))
    }

    /// A flat array of bulk strings: Sentinel's maps (`key, value, key, value, ...`).
    pub fn pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> Self {
        Reply::Array(
            pairs
                .into_iter()
                .flat_map(|(key, value)| [Reply::bulk(key), Reply::bulk(value)])
                .collect(),
        )
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(text) => push_line(out, b'+', text),
            Reply::Error(text) => push_line(out, b'-', text),
            Reply::Integer(n) => push_line(out, b':', &n.to_string()),
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(text)) => {
                push_line(out, b'$', &text.len().to_string());
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(items) => {
                push_line(out, b'*', &items.len().to_string());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// A simple line: no CR or LF may end up inside it.
fn push_line(out: &mut Vec<u8>, kind: u8, text: &str) {
    out.push(kind);
    out.extend(
        text.bytes()
            .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

/// Reads the next command: its words, the first being the command's name.
pub async fn read_command(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> Result<Vec<String>, ReadError> {
    loop {
        let line = read_line(reader).await?;
        let Some(count) = line.strip_prefix('*') else {
            // Inline: words separated by spaces; an empty line is skipped, as Redis does.
            let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
            if words.is_empty() {
                continue;
            }
            return Ok(words);
        };
        let count: usize = count
            .parse()
            .ok()
            .filter(|n| *n <= MAX_ARGUMENTS)
            .ok_or_else(|| ReadError::Protocol("invalid multibulk length".into()))?;
        let mut words = Vec::with_capacity(count);
        for _ in 0..count {
            words.push(read_bulk(reader).await?);
        }
        if !words.is_empty() {
            return Ok(words);
        }
    }
}

async fn read_bulk(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<String, ReadError> {
    let line = read_line(reader).await?;
    let length: usize = line
        .strip_prefix('$')
        .and_then(|n| n.parse().ok())
        .filter(|n| *n <= MAX_LINE)
        .ok_or_else(|| ReadError::Protocol(format!("expected '$', got '{}'", first(&line))))?;
    let mut bytes = vec![0; length + 2];
    reader
        .read_exact(&mut bytes)
        .await
        .map_err(|_| ReadError::Closed)?;
    if !bytes.ends_with(b"\r\n") {
        return Err(ReadError::Protocol("a bulk string without CRLF".into()));
    }
    bytes.truncate(length);
    String::from_utf8(bytes).map_err(|_| ReadError::Protocol("an argument is not UTF-8".into()))
}

/// One line without its CRLF (or LF), at most [`MAX_LINE`] long.
async fn read_line(reader: &mut (impl AsyncBufRead + Unpin)) -> Result<String, ReadError> {
    let mut line = Vec::new();
    let mut limited = reader.take(MAX_LINE as u64 + 2);
    let read = limited
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| ReadError::Closed)?;
    if read == 0 {
        return Err(ReadError::Closed);
    }
    if !line.ends_with(b"\n") {
        return Err(ReadError::Protocol("too big inline request".into()));
    }
    line.pop();
    if line.ends_with(b"\r") {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| ReadError::Protocol("a request is not UTF-8".into()))
}

fn first(line: &str) -> char {
    line.chars().next().unwrap_or(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn commands(input: &[u8]) -> Vec<Result<Vec<String>, String>> {
        let mut reader = tokio::io::BufReader::new(input);
        let mut out = Vec::new();
        loop {
            match read_command(&mut reader).await {
                Ok(words) => out.push(Ok(words)),
                Err(ReadError::Closed) => return out,
                Err(ReadError::Protocol(why)) => {
                    out.push(Err(why));
                    return out;
                }
            }
        }
    }

    #[tokio::test]
    async fn reads_arrays_and_inline_commands() {
        let input = b"*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$5\r\ncache\r\n\
            PING\r\n\r\nsentinel masters\n";
        let words = |w: &[&str]| Ok(w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            commands(input).await,
            [
                words(&["SENTINEL", "get-master-addr-by-name", "cache"]),
                words(&["PING"]),
                words(&["sentinel", "masters"]),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_what_is_not_resp() {
        assert_eq!(
            commands(b"*1\r\n:5\r\n").await,
            [Err("expected '$', got ':'".to_string())]
        );
        assert_eq!(
            commands(b"*99999\r\n").await,
            [Err("invalid multibulk length".to_string())]
        );
        let long = vec![b'a'; MAX_LINE + 10];
        assert_eq!(
            commands(&long).await,
            [Err("too big inline request".to_string())]
        );
        // Cut short: the client went away.
        assert!(commands(b"*2\r\n$4\r\nPI").await.is_empty());
    }

    #[test]
    fn encodes_replies() {
        let mut out = Vec::new();
        Reply::Array(vec![
            Reply::bulk("127.0.0.1"),
            Reply::Bulk(None),
            Reply::Integer(2),
            Reply::ok(),
            Reply::Error("ERR no\r\nsuch".into()),
        ])
        .encode(&mut out);
        assert_eq!(
            out,
            b"*5\r\n$9\r\n127.0.0.1\r\n$-1\r\n:2\r\n+OK\r\n-ERR no  such\r\n"
        );
    }
}
