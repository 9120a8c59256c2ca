//! An origin's response head: parsed with httparse, turned into an [`http::Response`], and what
//! it says about its body (RFC 9112 §6.3) and about the connection.
//!
//! The head's bytes are copied once, and every header value is a slice of that copy; when the
//! whole of a small body came with the head, it joins the same copy. The connection's read
//! buffer is then free to be reused for the next response, with no allocation.

use std::mem::MaybeUninit;

use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, Version};

/// A response head may not be larger.
pub(crate) const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Header fields in one response head, as hyper allows.
const MAX_HEADERS: usize = 100;

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body: `HEAD`, 1xx, 204, 304, or `Content-Length: 0`.
    Empty,
    Length(u64),
    Chunked,
    /// Until the origin closes the connection.
    UntilClose,
}

/// What the front of a buffer holds.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Not a whole head yet.
    Partial,
    /// An interim response (100 Continue, 103 Early Hints), `len` bytes, to be skipped.
    Interim {
        len: usize,
    },
    Final(Head),
}

/// A final response head.
#[derive(Debug)]
pub(crate) struct Head {
    /// Status and headers (the version is the proxy's own, HTTP/1.1, whatever the origin's).
    pub(crate) response: Response<()>,
    /// Bytes of the buffer taken: the head, and the inline body if there is one.
    pub(crate) len: usize,
    pub(crate) framing: Framing,
    /// Whether the origin lets the connection carry another request.
    pub(crate) keep_alive: bool,
    /// The whole body, when it is small and came with the head.
    pub(crate) inline_body: Option<Bytes>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeadError {
    #[error("invalid response head")]
    Invalid,
    #[error("response head too large")]
    TooLarge,
    #[error("invalid content-length")]
    ContentLength,
    #[error("transfer-encoding in an HTTP/1.0 response")]
    TransferEncodingInHttp10,
}

/// What the framing and connection fields of one head say.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    content_length_invalid: bool,
    transfer_encoding: bool,
    chunked_last: bool,
    close: bool,
    keep_alive: bool,
}

/// Parses the response head at the front of `buf`, the answer to a `method` request. A body of
/// at most `inline_limit` bytes that is whole in `buf` is taken with it.
pub(crate) fn parse(buf: &[u8], method: &Method, inline_limit: usize) -> Result<Parsed, HeadError> {
    let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let len = match httparse::ParserConfig::default().parse_response_with_uninit_headers(
        &mut parsed,
        buf,
        &mut fields,
    ) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Complete(_)) => return Err(HeadError::TooLarge),
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(Parsed::Partial),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Invalid),
    };
    let code = parsed.code.ok_or(HeadError::Invalid)?;
    let status = StatusCode::from_u16(code).map_err(|_| HeadError::Invalid)?;
    if status.is_informational() && status != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Parsed::Interim { len });
    }
    let http10 = parsed.version == Some(0);

    let mut seen = Fields::default();
    for field in parsed.headers.iter() {
        seen.note(field.name, field.value);
    }
    let framing = seen.framing(status, method, http10)?;
    // Both framings at once may be an attempt at response splitting (RFC 9112 §6.3): the
    // transfer coding is followed, the length dropped, and the connection not trusted again.
    let both = seen.transfer_encoding && seen.content_length.is_some();
    let keep_alive = !both
        && framing != Framing::UntilClose
        && status != StatusCode::SWITCHING_PROTOCOLS
        && if http10 {
            seen.keep_alive && !seen.close
        } else {
            !seen.close
        };

    let inline = match framing {
        Framing::Length(length) => usize::try_from(length)
            .ok()
            .filter(|&length| length <= inline_limit && buf.len() - len >= length),
        _ => None,
    };
    let taken = len + inline.unwrap_or(0);
    let message = Bytes::copy_from_slice(&buf[..taken]);
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes()).map_err(|_| HeadError::Invalid)?;
        if both && name == CONTENT_LENGTH {
            continue;
        }
        // The value is a slice of `buf`; the same bytes sit at the same offset in `message`.
        let start = field.value.as_ptr() as usize - buf.as_ptr() as usize;
        let value = HeaderValue::from_maybe_shared(message.slice(start..start + field.value.len()))
            .map_err(|_| HeadError::Invalid)?;
        headers.append(name, value);
    }
    let mut response = Response::new(());
    *response.status_mut() = status;
    *response.version_mut() = Version::HTTP_11;
    *response.headers_mut() = headers;
    Ok(Parsed::Final(Head {
        response,
        len: taken,
        framing,
        keep_alive,
        inline_body: inline.map(|_| message.slice(len..)),
    }))
}

// === impl Fields ===

impl Fields {
    fn note(&mut self, name: &str, value: &[u8]) {
        if name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str()) {
            // Repeated fields and lists must all name the same length.
            for item in value.split(|&byte| byte == b',') {
                match parse_length(item.trim_ascii()) {
                    Some(length) if self.content_length.is_none_or(|seen| seen == length) => {
                        self.content_length = Some(length);
                    }
                    _ => self.content_length_invalid = true,
                }
            }
        } else if name.eq_ignore_ascii_case(TRANSFER_ENCODING.as_str()) {
            self.transfer_encoding = true;
            // Only the last coding of the last field counts.
            if let Some(last) = value.split(|&byte| byte == b',').next_back() {
                self.chunked_last = last.trim_ascii().eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case(CONNECTION.as_str()) {
            for token in value.split(|&byte| byte == b',') {
                let token = token.trim_ascii();
                self.close |= token.eq_ignore_ascii_case(b"close");
                self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }

    /// RFC 9112 §6.3, in its order.
    fn framing(
        &self,
        status: StatusCode,
        method: &Method,
        http10: bool,
    ) -> Result<Framing, HeadError> {
        if status == StatusCode::SWITCHING_PROTOCOLS
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::NOT_MODIFIED
            || *method == Method::HEAD
        {
            return Ok(Framing::Empty);
        }
        if self.transfer_encoding {
            if http10 {
                return Err(HeadError::TransferEncodingInHttp10);
            }
            return Ok(if self.chunked_last {
                Framing::Chunked
            } else {
                Framing::UntilClose
            });
        }
        if self.content_length_invalid {
            return Err(HeadError::ContentLength);
        }
        Ok(match self.content_length {
            Some(0) => Framing::Empty,
            Some(length) => Framing::Length(length),
            None => Framing::UntilClose,
        })
    }
}

/// A decimal length, digits only (no sign, no spaces), that fits a `u64`.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0_u64, |length, &byte| {
        byte.is_ascii_digit()
            .then(|| length * 10 + u64::from(byte - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn final_head(raw: &str, method: Method) -> Head {
        match parse(raw.as_bytes(), &method, 1024) {
            Ok(Parsed::Final(head)) => head,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    fn framing_of(raw: &str, method: Method) -> Result<Framing, HeadError> {
        match parse(raw.as_bytes(), &method, 0)? {
            Parsed::Final(head) => Ok(head.framing),
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn a_small_whole_answer_is_taken_with_its_body() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhelloNEXT";
        let head = final_head(raw, Method::GET);
        assert_eq!(head.response.status(), StatusCode::OK);
        assert_eq!(head.framing, Framing::Length(5));
        assert!(head.keep_alive);
        assert_eq!(head.len, raw.len() - 4);
        assert_eq!(head.inline_body.as_deref(), Some(&b"hello"[..]));
        let values: Vec<_> = head.response.headers().get_all("x-a").iter().collect();
        assert_eq!(values, ["1", "2"]);
    }

    #[test]
    fn a_body_not_yet_whole_or_too_large_stays_in_the_buffer() {
        let raw = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        let head = final_head(raw, Method::GET);
        assert_eq!(head.len, raw.len() - 5);
        assert!(head.inline_body.is_none());

        let Parsed::Final(head) = parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            &Method::GET,
            2,
        )
        .unwrap() else {
            panic!("a final head");
        };
        assert!(head.inline_body.is_none(), "above the inline limit");
    }

    #[test]
    fn partial_heads_and_interim_responses() {
        assert!(matches!(
            parse(b"HTTP/1.1 200 OK\r\nConte", &Method::GET, 0),
            Ok(Parsed::Partial)
        ));
        let interim = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
        match parse(format!("{interim}HTTP/1.1 200").as_bytes(), &Method::GET, 0) {
            Ok(Parsed::Interim { len }) => assert_eq!(len, interim.len()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn framing_follows_rfc_9112() {
        use Framing::*;
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                Method::GET,
                Empty,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
                Method::HEAD,
                Empty,
            ),
            (
                "HTTP/1.1 204 No Content\r\nContent-Length: 7\r\n\r\n",
                Method::GET,
                Empty,
            ),
            (
                "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n",
                Method::GET,
                Empty,
            ),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                Method::GET,
                Empty,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\nContent-Length: 7\r\n\r\n",
                Method::GET,
                Length(7),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Method::GET,
                Chunked,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                Method::GET,
                UntilClose,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n",
                Method::GET,
                Chunked,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", Method::GET, UntilClose),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
                Method::GET,
                Length(3),
            ),
        ];
        for (raw, method, expected) in cases {
            assert_eq!(framing_of(raw, method), Ok(expected), "{raw:?}");
        }
    }

    #[test]
    fn a_length_and_a_coding_together_drop_the_length_and_the_connection() {
        let head = final_head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n",
            Method::GET,
        );
        assert!(!head.response.headers().contains_key(CONTENT_LENGTH));
        assert!(head.response.headers().contains_key(TRANSFER_ENCODING));
        assert!(!head.keep_alive);
    }

    #[test]
    fn keep_alive_by_version_and_connection() {
        let cases = [
            ("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true),
            (
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 0\r\n\r\n",
                false,
            ),
            ("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false),
            (
                "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
                true,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false),
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                false,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(final_head(raw, Method::GET).keep_alive, expected, "{raw:?}");
        }
    }

    #[test]
    fn the_version_is_the_proxys_own() {
        let head = final_head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::GET);
        assert_eq!(head.response.version(), Version::HTTP_11);
    }

    #[test]
    fn malformed_heads_are_errors() {
        let cases = [
            ("SURPRISE\r\n\r\n", HeadError::Invalid),
            ("HTTP/1.1 2000 Big\r\n\r\n", HeadError::Invalid),
            ("HTTP/1.1 200 OK\r\nbad header\r\n\r\n", HeadError::Invalid),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                HeadError::ContentLength,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
                HeadError::ContentLength,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3 4\r\n\r\n",
                HeadError::ContentLength,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                HeadError::ContentLength,
            ),
            (
                "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                HeadError::TransferEncodingInHttp10,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                parse(raw.as_bytes(), &Method::GET, 0).err(),
                Some(expected),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn heads_are_bounded() {
        let mut endless = b"HTTP/1.1 200 OK\r\n".to_vec();
        while endless.len() < MAX_HEAD_BYTES {
            endless.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(
            parse(&endless, &Method::GET, 0).err(),
            Some(HeadError::TooLarge)
        );

        let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
        for index in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{index}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(
            parse(&many, &Method::GET, 0).err(),
            Some(HeadError::TooLarge)
        );
    }
}
