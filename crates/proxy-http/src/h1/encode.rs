//! The request an origin gets over HTTP/1.1: its head, written straight from the client's header
//! map into the connection's write buffer, and the framing of its body.
//!
//! The framing fields are the encoder's own: the client's `Content-Length` is never copied, the
//! encoder writes the length of the body it actually sends (or `Transfer-Encoding: chunked`), so
//! the head can never disagree with the body that follows it.

use std::io::Write;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method};

/// How a request body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodyFraming {
    /// No body, and no framing field.
    None,
    Length(u64),
    Chunked,
}

/// The request head: `METHOD target HTTP/1.1`, the fields of `headers` but the framing ones,
/// `Host: host` when given (for a request that came without one), the framing field, and the
/// empty line.
pub(crate) fn head(
    out: &mut Vec<u8>,
    method: &Method,
    target: &str,
    headers: &HeaderMap,
    host: Option<&HeaderValue>,
    framing: BodyFraming,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING {
            continue;
        }
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(host) = host {
        field(out, b"host", host.as_bytes());
    }
    match framing {
        BodyFraming::None => {}
        BodyFraming::Length(length) => {
            // Writing to a Vec cannot fail.
            let _infallible = write!(out, "content-length: {length}\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"\r\n");
}

/// The size line of a chunk of `length` bytes; the data and [`CHUNK_END`] follow it.
pub(crate) fn chunk_size(out: &mut Vec<u8>, length: usize) {
    let _infallible = write!(out, "{length:x}\r\n");
}

/// What ends each chunk's data.
pub(crate) const CHUNK_END: &[u8] = b"\r\n";

/// The last chunk, the trailer fields if any, and the empty line that ends the body.
pub(crate) fn last_chunk(out: &mut Vec<u8>, trailers: Option<&HeaderMap>) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers.into_iter().flatten() {
        field(out, name.as_str().as_bytes(), value.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    http::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    fn text(out: &[u8]) -> &str {
        std::str::from_utf8(out).unwrap()
    }

    #[test]
    fn a_get_goes_out_as_it_came_with_each_value_on_its_own_line() {
        let mut out = Vec::new();
        let mut fields = headers(&[("host", "api.example"), ("accept", "*/*")]);
        fields.append("x-many", HeaderValue::from_static("1"));
        fields.append("x-many", HeaderValue::from_static("2"));
        head(
            &mut out,
            &Method::GET,
            "/a?b=c",
            &fields,
            None,
            BodyFraming::None,
        );
        assert_eq!(
            text(&out),
            "GET /a?b=c HTTP/1.1\r\nhost: api.example\r\naccept: */*\r\nx-many: 1\r\nx-many: 2\r\n\r\n"
        );
    }

    #[test]
    fn the_framing_field_is_the_encoders_own() {
        let fields = headers(&[("content-length", "999"), ("transfer-encoding", "gzip")]);
        for (framing, expected) in [
            (BodyFraming::None, "POST / HTTP/1.1\r\n\r\n"),
            (
                BodyFraming::Length(12),
                "POST / HTTP/1.1\r\ncontent-length: 12\r\n\r\n",
            ),
            (
                BodyFraming::Chunked,
                "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            ),
        ] {
            let mut out = Vec::new();
            head(&mut out, &Method::POST, "/", &fields, None, framing);
            assert_eq!(text(&out), expected);
        }
    }

    #[test]
    fn a_request_without_host_names_the_origin() {
        let mut out = Vec::new();
        let host = HeaderValue::from_static("127.0.0.1:8081");
        head(
            &mut out,
            &Method::GET,
            "/",
            &HeaderMap::new(),
            Some(&host),
            BodyFraming::None,
        );
        assert_eq!(text(&out), "GET / HTTP/1.1\r\nhost: 127.0.0.1:8081\r\n\r\n");
    }

    #[test]
    fn chunks_and_the_last_chunk_with_trailers() {
        let mut out = Vec::new();
        chunk_size(&mut out, 26);
        out.extend_from_slice(b"abcdefghijklmnopqrstuvwxyz");
        out.extend_from_slice(CHUNK_END);
        last_chunk(&mut out, Some(&headers(&[("checksum", "42")])));
        assert_eq!(
            text(&out),
            "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nchecksum: 42\r\n\r\n"
        );
        let mut out = Vec::new();
        last_chunk(&mut out, None);
        assert_eq!(text(&out), "0\r\n\r\n");
    }
}
