//! The chunked transfer coding of an origin's response body (RFC 9112 §7.1), decoded from the
//! connection's read buffer as it fills: data comes out as it arrives, without a copy, and the
//! trailer section at the end becomes a trailers frame.
//!
//! Strict, as a proxy must be so that one origin message is never read as two: every line ends
//! in CRLF, a chunk size has at most 16 hex digits and is at most [`MAX_CHUNK_SIZE`], extensions
//! are skipped but bounded, and the trailer section is bounded like a header section.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

/// Hex digits of one chunk size, leading zeros included: 16 fill a `u64`.
const MAX_SIZE_DIGITS: u8 = 16;

/// The largest chunk size taken, 2^48 - 1 (256 TiB). A chunk is one write of the origin's, seldom
/// more than a few MiB; a size like `ffffffffffffffff` is garbage, or bait for a parser that keeps
/// sizes in fewer bits (nginx refuses sizes past `off_t`, 2^63 - 1). Below the bound, no size
/// arithmetic can come near overflowing.
const MAX_CHUNK_SIZE: u64 = (1 << 48) - 1;

/// Bytes of extensions (`;name=value...`) after one chunk size.
const MAX_EXTENSION_BYTES: usize = 4 * 1024;

/// The whole trailer section, its final empty line included.
const MAX_TRAILER_BYTES: usize = 64 * 1024;

/// Trailer fields in one section.
const MAX_TRAILERS: usize = 100;

/// Where the decoder stands in the body.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The hex digits of a chunk size.
    Size {
        size: u64,
        digits: u8,
    },
    /// After the digits: whitespace, then optional extensions, up to CR.
    AfterSize {
        size: u64,
        in_extension: bool,
        extension_bytes: usize,
    },
    /// The LF ending a size line.
    SizeLf {
        size: u64,
    },
    /// Chunk data still to come.
    Data {
        left: u64,
    },
    /// The CRLF after a chunk's data.
    DataCr,
    DataLf,
    /// After the last chunk: the trailer section and its empty line.
    Trailers,
    Done,
}

/// What one step of decoding found.
#[derive(Debug, PartialEq)]
pub(crate) enum Step {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The body is over; what follows in the buffer is not part of it.
    End,
    /// The buffer holds no more of the body: read more.
    NeedMore,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChunkedError {
    #[error("invalid chunk size")]
    Size,
    #[error("chunk line does not end in CRLF")]
    LineEnd,
    #[error("chunk extensions too long")]
    ExtensionTooLong,
    #[error("invalid trailer section")]
    Trailers,
    #[error("trailer section too large")]
    TrailersTooLarge,
}

// === impl ChunkedDecoder ===

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        Self {
            state: State::Size { size: 0, digits: 0 },
        }
    }

    /// Decodes from the front of `buf`, consuming what it used.
    pub(crate) fn step(&mut self, buf: &mut BytesMut) -> Result<Step, ChunkedError> {
        loop {
            if let State::Data { left } = self.state {
                if buf.is_empty() {
                    return Ok(Step::NeedMore);
                }
                let take = usize::try_from(left).map_or(buf.len(), |left| left.min(buf.len()));
                let left = left - take as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data { left }
                };
                return Ok(Step::Data(buf.split_to(take).freeze()));
            }
            if self.state == State::Trailers {
                return trailers(buf).map(|step| {
                    if step != Step::NeedMore {
                        self.state = State::Done;
                    }
                    step
                });
            }
            if self.state == State::Done {
                return Ok(Step::End);
            }
            let Some(&byte) = buf.first() else {
                return Ok(Step::NeedMore);
            };
            buf.advance(1);
            self.state = self.after(byte)?;
        }
    }

    /// The state after `byte`, in any state that reads a byte at a time.
    fn after(&self, byte: u8) -> Result<State, ChunkedError> {
        Ok(match self.state {
            State::Size { size, digits } => match hex_value(byte) {
                Some(value) if digits < MAX_SIZE_DIGITS && size <= MAX_CHUNK_SIZE >> 4 => {
                    State::Size {
                        size: size << 4 | u64::from(value),
                        digits: digits + 1,
                    }
                }
                Some(_) => return Err(ChunkedError::Size),
                None if digits == 0 => return Err(ChunkedError::Size),
                None => State::AfterSize {
                    size,
                    in_extension: false,
                    extension_bytes: 0,
                }
                .after_size(byte)?,
            },
            State::AfterSize { .. } => self.state.after_size(byte)?,
            State::SizeLf { size } => match byte {
                b'\n' if size == 0 => State::Trailers,
                b'\n' => State::Data { left: size },
                _ => return Err(ChunkedError::LineEnd),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(ChunkedError::LineEnd),
            },
            State::DataLf => match byte {
                b'\n' => State::Size { size: 0, digits: 0 },
                _ => return Err(ChunkedError::LineEnd),
            },
            State::Data { .. } | State::Trailers | State::Done => {
                unreachable!("handled before reading a byte")
            }
        })
    }
}

// === impl State ===

impl State {
    /// A byte after a chunk size: whitespace before the extensions, the extensions, or CR.
    fn after_size(self, byte: u8) -> Result<State, ChunkedError> {
        let State::AfterSize {
            size,
            in_extension,
            extension_bytes,
        } = self
        else {
            unreachable!("only called after a size");
        };
        match byte {
            b'\r' => Ok(State::SizeLf { size }),
            b'\n' => Err(ChunkedError::LineEnd),
            _ if extension_bytes >= MAX_EXTENSION_BYTES => Err(ChunkedError::ExtensionTooLong),
            b';' | b' ' | b'\t' => Ok(State::AfterSize {
                size,
                in_extension: in_extension || byte == b';',
                extension_bytes: extension_bytes + 1,
            }),
            _ if in_extension => Ok(State::AfterSize {
                size,
                in_extension,
                extension_bytes: extension_bytes + 1,
            }),
            _ => Err(ChunkedError::Size),
        }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The trailer section after the last chunk: nothing but its empty line, or fields then the
/// empty line.
fn trailers(buf: &mut BytesMut) -> Result<Step, ChunkedError> {
    if buf.len() < 2 {
        return Ok(Step::NeedMore);
    }
    if buf.starts_with(b"\r\n") {
        buf.advance(2);
        return Ok(Step::End);
    }
    let Some(end) = buf.windows(4).position(|window| window == b"\r\n\r\n") else {
        return if buf.len() > MAX_TRAILER_BYTES {
            Err(ChunkedError::TrailersTooLarge)
        } else {
            Ok(Step::NeedMore)
        };
    };
    let section = buf.split_to(end + 4);
    if section.len() > MAX_TRAILER_BYTES {
        return Err(ChunkedError::TrailersTooLarge);
    }
    let mut fields = [httparse::EMPTY_HEADER; MAX_TRAILERS];
    let Ok(httparse::Status::Complete((_, fields))) =
        httparse::parse_headers(&section, &mut fields)
    else {
        return Err(ChunkedError::Trailers);
    };
    let mut map = HeaderMap::with_capacity(fields.len());
    for field in fields.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes());
        let value = HeaderValue::from_bytes(field.value);
        let (Ok(name), Ok(value)) = (name, value) else {
            return Err(ChunkedError::Trailers);
        };
        map.append(name, value);
    }
    Ok(Step::Trailers(map))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes: the data, the trailers, and whether the
    /// end was found, with what was left after it.
    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
    ) -> Result<(Vec<u8>, Option<HeaderMap>, BytesMut), ChunkedError> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut data = Vec::new();
        let mut trailers = None;
        loop {
            match decoder.step(&mut buf)? {
                Step::Data(chunk) => {
                    assert!(!chunk.is_empty(), "an empty data frame");
                    data.extend_from_slice(&chunk);
                }
                Step::Trailers(map) => trailers = Some(map),
                Step::End => return Ok((data, trailers, buf)),
                Step::NeedMore => {
                    assert!(fed < input.len(), "needs more after the whole input");
                    let next = (fed + piece).min(input.len());
                    buf.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
            }
        }
    }

    #[test]
    fn decodes_chunks_split_at_every_point() {
        let input = b"5\r\nhello\r\n7;name=value\r\n, world\r\n0\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (data, trailers, rest) = decode_in_pieces(input, piece).unwrap();
            assert_eq!(data, b"hello, world", "pieces of {piece}");
            assert!(trailers.is_none());
            // What follows the body is left for the connection to judge.
            let fed_after_end = &input[input.len() - 4..];
            assert!(
                fed_after_end.starts_with(&rest),
                "pieces of {piece}: {rest:?}"
            );
        }
    }

    #[test]
    fn hex_sizes_in_either_case_and_whitespace_before_extensions() {
        let input = b"A \t; ext\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n";
        let (data, _, rest) = decode_in_pieces(input, 3).unwrap();
        assert_eq!(data.len(), 20);
        assert!(rest.is_empty());
    }

    #[test]
    fn trailers_become_a_frame() {
        let input = b"3\r\nabc\r\n0\r\nChecksum: 42\r\nX-Done: yes\r\n\r\n";
        for piece in 1..input.len() {
            let (data, trailers, _) = decode_in_pieces(input, piece).unwrap();
            assert_eq!(data, b"abc");
            let trailers = trailers.expect("trailers");
            assert_eq!(trailers["checksum"], "42");
            assert_eq!(trailers["x-done"], "yes");
        }
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let cases: [(&[u8], ChunkedError); 10] = [
            (b"\r\n", ChunkedError::Size),
            (b"x\r\n", ChunkedError::Size),
            (b"5x\r\nhello\r\n", ChunkedError::Size),
            (b"5\nhello\r\n", ChunkedError::LineEnd),
            (b"5\r\nhelloX\r\n", ChunkedError::LineEnd),
            (b"5\r\nhello\rX", ChunkedError::LineEnd),
            (b"00000000000000001\r\n", ChunkedError::Size),
            (b"1000000000000\r\n", ChunkedError::Size),
            (b"ffffffffffffffff\r\n", ChunkedError::Size),
            (b"0\r\nbad header\r\n\r\n", ChunkedError::Trailers),
        ];
        for (input, expected) in cases {
            let result = decode_in_pieces(input, input.len());
            assert_eq!(
                result.err(),
                Some(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn the_largest_size_is_read_whole() {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"0000ffffffffffff\r\nab"[..]);
        assert_eq!(
            decoder.step(&mut buf).unwrap(),
            Step::Data(Bytes::from_static(b"ab"))
        );
        assert_eq!(
            decoder.state,
            State::Data {
                left: MAX_CHUNK_SIZE - 2
            }
        );
    }

    #[test]
    fn extensions_and_trailers_are_bounded() {
        let mut long_extension = b"1;".to_vec();
        long_extension.extend(std::iter::repeat_n(b'e', MAX_EXTENSION_BYTES));
        long_extension.extend_from_slice(b"\r\n");
        assert_eq!(
            decode_in_pieces(&long_extension, 512).err(),
            Some(ChunkedError::ExtensionTooLong)
        );

        let mut endless_trailer = b"0\r\nX: ".to_vec();
        endless_trailer.extend(std::iter::repeat_n(b'v', MAX_TRAILER_BYTES + 1));
        assert_eq!(
            decode_in_pieces(&endless_trailer, 4096).err(),
            Some(ChunkedError::TrailersTooLarge)
        );
    }
}
