//! One request to a plain-HTTP origin, up to the head of its answer, on a connection of the
//! origin's pool.
//!
//! Keep-alive connections are closed by origins at any time. One the origin closed while it was
//! idle is not lent out again (the pool asks the reactor), but a close can also cross a request
//! on the wire. Such a connection shows itself by failing before any answer: the write is
//! refused, or the connection ends before the first byte of a response. A request none of which
//! was written goes out again on another connection; so does an idempotent request whose body is
//! kept, as often as that happens: it is not the origin failing. Any other request may have
//! reached the origin, and is a protocol failure (502) as with HAProxy and nginx. A new
//! connection that fails before sending is a connect failure, after which a retry is always safe.
//!
//! A streamed body (too large to keep) goes out as the client sends it; an origin that answers
//! before it has all of it (413, 401) is heard at once, and its answer goes to the client.

use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Body;

use super::body::PlainBody;
use super::conn::{OriginConn, WriteError};
use super::decode::{self, Framing, Head, HeadError, Parsed};
use super::encode::{self, BodyFraming};
use crate::body::{OutBody, RequestBody};
use crate::error::ErrorKind;
use crate::origin_pool::OriginPool;
use crate::upload::ClientBodyError;

/// A body this small that came whole with its head is taken at once, and the connection given
/// back before the answer goes to the client.
const INLINE_BODY_LIMIT: usize = 16 * 1024;

/// A kept body up to this size is sent in one write with its head; a larger one after it.
const COALESCE_LIMIT: usize = 8 * 1024;

/// The request as the origin gets it.
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a Method,
    /// Origin form: `/path?query`.
    pub(crate) target: &'a str,
    pub(crate) headers: &'a HeaderMap,
    /// The `Host` to add, for a request that came without one.
    pub(crate) host: Option<&'a HeaderValue>,
    /// Whether the client sent `Content-Length`, which an empty body keeps (`0`).
    pub(crate) has_length: bool,
    /// A protocol upgrade was asked for: a 101 hands the connection to a tunnel.
    pub(crate) upgrade: bool,
    pub(crate) idempotent: bool,
}

/// How sending the request ended.
enum Sent {
    Whole,
    /// The origin answered before the body was all sent; the connection cannot serve again.
    AnsweredEarly(Head),
}

/// Why sending failed.
enum SendFailure {
    /// Not a byte went out.
    Unsent,
    Broken,
}

/// Why no response head came.
#[derive(Debug, thiserror::Error)]
enum ReadFailure {
    #[error("the connection closed before an answer")]
    ClosedEarly,
    #[error("the connection closed inside the response head")]
    Truncated,
    #[error("{0}")]
    Invalid(HeadError),
    #[error("reading the answer: {0}")]
    Io(std::io::Error),
}

/// Sends the request on a connection of `pool` and reads the head of the answer. `started`: the
/// attempt's start, which judges idle connections.
pub(crate) async fn exchange(
    pool: &Arc<OriginPool>,
    request: &Outgoing<'_>,
    body: &RequestBody,
    started: Instant,
) -> Result<Response<PlainBody>, ErrorKind> {
    let resendable = request.idempotent && body.is_kept();
    // A streamed body is taken once; an attempt that sent none of it leaves it for the next.
    let mut streamed = None;
    loop {
        let (mut conn, reused) = match pool.checkout(started) {
            Some(conn) => (conn, true),
            // Boxed, as every path a request rarely takes, so that it does not enlarge the
            // state of every request's future.
            None => (Box::pin(pool.connect()).await?, false),
        };
        let sent = match body {
            RequestBody::Kept { data, trailers } => {
                send_kept(&mut conn, request, data, trailers.as_deref()).await
            }
            RequestBody::Streamed(_) => {
                let out = streamed.get_or_insert_with(|| body.for_attempt());
                Box::pin(send_streamed(&mut conn, request, out)).await
            }
        };
        let (head, whole) = match sent {
            Ok(Sent::AnsweredEarly(head)) => (head, false),
            Ok(Sent::Whole) => match read_head(&mut conn, request.method).await {
                Ok(head) => (head, true),
                Err(ReadFailure::ClosedEarly) if reused && resendable => continue,
                Err(failure) => {
                    tracing::debug!(origin = %pool.authority(), %failure, "no answer from the origin");
                    return Err(ErrorKind::Protocol);
                }
            },
            Err(SendFailure::Unsent) if reused => continue,
            Err(SendFailure::Unsent) => {
                tracing::debug!(origin = %pool.authority(), "new connection closed before the request");
                return Err(ErrorKind::Connect);
            }
            Err(SendFailure::Broken) => return Err(ErrorKind::Protocol),
        };
        return answer(pool, conn, head, whole, request.upgrade, started);
    }
}

// === impl Outgoing ===

impl Outgoing<'_> {
    fn head(&self, out: &mut Vec<u8>, framing: BodyFraming) {
        out.clear();
        encode::head(
            out,
            self.method,
            self.target,
            self.headers,
            self.host,
            framing,
        );
    }
}

/// A kept body goes out with the head, in one write when it is small.
async fn send_kept(
    conn: &mut OriginConn,
    request: &Outgoing<'_>,
    data: &Bytes,
    trailers: Option<&HeaderMap>,
) -> Result<Sent, SendFailure> {
    let framing = if trailers.is_some() {
        BodyFraming::Chunked
    } else if !data.is_empty() || request.has_length {
        BodyFraming::Length(data.len() as u64)
    } else {
        BodyFraming::None
    };
    request.head(&mut conn.write_buf, framing);
    let separate = match framing {
        BodyFraming::None => None,
        BodyFraming::Length(_) if data.len() > COALESCE_LIMIT => Some(data),
        BodyFraming::Length(_) => {
            conn.write_buf.extend_from_slice(data);
            None
        }
        BodyFraming::Chunked => {
            if !data.is_empty() {
                encode::chunk_size(&mut conn.write_buf, data.len());
                conn.write_buf.extend_from_slice(data);
                conn.write_buf.extend_from_slice(encode::CHUNK_END);
            }
            encode::last_chunk(&mut conn.write_buf, trailers);
            None
        }
    };
    let result = conn.send_buffered().await;
    conn.shrink_write_buf();
    result.map_err(unsent_or_broken)?;
    if let Some(data) = separate
        && conn.send(data).await.is_err()
    {
        return Err(SendFailure::Broken);
    }
    Ok(Sent::Whole)
}

/// A streamed body goes out frame by frame as the client sends it, while an early answer is
/// watched for.
async fn send_streamed(
    conn: &mut OriginConn,
    request: &Outgoing<'_>,
    body: &mut OutBody,
) -> Result<Sent, SendFailure> {
    let framing = match body.size_hint().exact() {
        Some(length) => BodyFraming::Length(length),
        None => BodyFraming::Chunked,
    };
    request.head(&mut conn.write_buf, framing);
    conn.send_buffered().await.map_err(unsent_or_broken)?;
    let mut trailers = None;
    loop {
        let event = tokio::select! {
            biased;
            readable = conn.readable() => Upload::Readable(readable),
            frame = body.frame() => Upload::Frame(frame),
        };
        let data = match event {
            Upload::Readable(Err(_)) => return Err(SendFailure::Broken),
            Upload::Readable(Ok(())) => {
                match conn.try_read_more() {
                    Ok(None) => continue,
                    Ok(Some(0)) | Err(_) => return Err(SendFailure::Broken),
                    Ok(Some(_)) => {}
                }
                match early_answer(conn, request.method) {
                    Ok(Some(head)) => return Ok(Sent::AnsweredEarly(head)),
                    Ok(None) => continue,
                    Err(err) => {
                        tracing::debug!(error = %err, "invalid answer during the upload");
                        return Err(SendFailure::Broken);
                    }
                }
            }
            // The client's side failed; the body has recorded it.
            Upload::Frame(Some(Err(_))) => return Err(SendFailure::Broken),
            Upload::Frame(None) => break,
            Upload::Frame(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => data,
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    continue;
                }
            },
        };
        let written = if framing == BodyFraming::Chunked {
            if data.is_empty() {
                continue;
            }
            conn.write_buf.clear();
            encode::chunk_size(&mut conn.write_buf, data.len());
            conn.write_buf.extend_from_slice(&data);
            conn.write_buf.extend_from_slice(encode::CHUNK_END);
            let result = conn.send_buffered().await.map_err(|err| err.error);
            conn.shrink_write_buf();
            result
        } else {
            conn.send(&data).await
        };
        if written.is_err() {
            // The origin may have answered and stopped reading.
            return match read_head(conn, request.method).await {
                Ok(head) => Ok(Sent::AnsweredEarly(head)),
                Err(_) => Err(SendFailure::Broken),
            };
        }
    }
    if framing == BodyFraming::Chunked {
        conn.write_buf.clear();
        encode::last_chunk(&mut conn.write_buf, trailers.as_ref());
        conn.send_buffered()
            .await
            .map_err(|_| SendFailure::Broken)?;
    }
    Ok(Sent::Whole)
}

enum Upload {
    Readable(std::io::Result<()>),
    Frame(Option<Result<hyper::body::Frame<Bytes>, ClientBodyError>>),
}

fn unsent_or_broken(err: WriteError) -> SendFailure {
    if err.sent_any {
        SendFailure::Broken
    } else {
        SendFailure::Unsent
    }
}

/// A final answer already in the read buffer, interim ones skipped.
fn early_answer(conn: &mut OriginConn, method: &Method) -> Result<Option<Head>, HeadError> {
    loop {
        match decode::parse(&conn.read_buf, method, INLINE_BODY_LIMIT)? {
            Parsed::Partial => return Ok(None),
            Parsed::Interim { len } => conn.read_buf.advance(len),
            Parsed::Final(head) => return Ok(Some(head)),
        }
    }
}

/// Reads until a final response head, skipping interim ones (100 Continue, 103 Early Hints).
async fn read_head(conn: &mut OriginConn, method: &Method) -> Result<Head, ReadFailure> {
    let mut received = false;
    loop {
        if !conn.read_buf.is_empty() {
            received = true;
            if let Some(head) = early_answer(conn, method).map_err(ReadFailure::Invalid)? {
                return Ok(head);
            }
        }
        match conn.read_more().await {
            Ok(0) if received => return Err(ReadFailure::Truncated),
            Ok(0) => return Err(ReadFailure::ClosedEarly),
            Ok(_) => {}
            Err(err)
                if !received
                    && matches!(
                        err.kind(),
                        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
                    ) =>
            {
                return Err(ReadFailure::ClosedEarly);
            }
            Err(err) => return Err(ReadFailure::Io(err)),
        }
    }
}

/// The response with its body: in hand, or still to read from the connection.
fn answer(
    pool: &Arc<OriginPool>,
    mut conn: OriginConn,
    head: Head,
    sent_whole: bool,
    upgrade: bool,
    started: Instant,
) -> Result<Response<PlainBody>, ErrorKind> {
    let Head {
        response,
        len,
        framing,
        keep_alive,
        inline_body,
    } = head;
    conn.read_buf.advance(len);
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        if !upgrade {
            tracing::debug!(origin = %pool.authority(), "101 to a request that asked for no upgrade");
            return Err(ErrorKind::Protocol);
        }
        return Ok(response.map(|()| PlainBody::switched(conn)));
    }
    let reusable = keep_alive && sent_whole;
    let body = match (framing, inline_body) {
        (_, Some(data)) => {
            pool.release(conn, started, reusable);
            PlainBody::whole(data)
        }
        (Framing::Empty, None) => {
            pool.release(conn, started, reusable);
            PlainBody::empty()
        }
        (Framing::Length(length), None) => {
            PlainBody::by_length(conn, Arc::clone(pool), length, reusable)
        }
        (Framing::Chunked, None) => PlainBody::chunked(conn, Arc::clone(pool), reusable),
        (Framing::UntilClose, None) => PlainBody::until_close(conn, Arc::clone(pool)),
    };
    Ok(response.map(|()| body))
}
