//! Property tests of the origin-answer decoders: whatever bytes an origin sends, in whatever
//! pieces, the head parser and the chunked decoder answer or fail, and never panic.

use bytes::BytesMut;
use http::Method;
use proptest::prelude::*;

use super::chunked::{ChunkedDecoder, Step};
use super::decode::{self, Parsed};

/// A valid answer head to start mutations from.
const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\
Connection: keep-alive\r\n\r\nhello";

/// A valid chunked body to start mutations from.
const BODY: &[u8] =
    b"5;x=y\r\nhello\r\n1A \r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nChecksum: 1\r\n\r\n";

/// Bytes, random or a mutation of `valid`: some bytes replaced by ones that matter to HTTP.
fn input(valid: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let special = prop::sample::select(&b"\r\n :;,0fF\t\x00\xff"[..]);
    let mutated = prop::collection::vec((0..valid.len(), prop_oneof![special, any::<u8>()]), 1..6)
        .prop_map(move |edits| {
            let mut bytes = valid.to_vec();
            for (at, byte) in edits {
                bytes[at] = byte;
            }
            bytes
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..256), mutated]
}

/// Where `input` is cut into pieces, as cut points.
fn cuts() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0..256_usize, 0..8)
}

fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (input.len() + 1)).collect();
    cuts.push(input.len());
    cuts.sort_unstable();
    let mut from = 0;
    cuts.into_iter()
        .map(|to| {
            let piece = &input[from..to];
            from = to;
            piece
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_head_parses_or_fails_at_every_length(input in input(HEAD), cuts in cuts(), head in any::<bool>()) {
        let method = if head { Method::HEAD } else { Method::GET };
        let mut buf = Vec::new();
        for piece in pieces(&input, &cuts) {
            buf.extend_from_slice(piece);
            match decode::parse(&buf, &method, 1024) {
                Ok(Parsed::Partial) | Err(_) => {}
                Ok(Parsed::Interim { len }) => prop_assert!(len > 0 && len <= buf.len()),
                Ok(Parsed::Final(head)) => prop_assert!(head.len > 0 && head.len <= buf.len()),
            }
        }
    }

    #[test]
    fn a_chunked_body_decodes_or_fails_in_any_pieces(input in input(BODY), cuts in cuts()) {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut data = 0;
        'feed: for piece in pieces(&input, &cuts) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.step(&mut buf) {
                    Ok(Step::NeedMore) => break,
                    Ok(Step::Data(chunk)) => {
                        prop_assert!(!chunk.is_empty());
                        data += chunk.len();
                    }
                    Ok(Step::Trailers(_)) => {}
                    Ok(Step::End) => {
                        prop_assert_eq!(decoder.step(&mut buf), Ok(Step::End));
                        break 'feed;
                    }
                    Err(_) => break 'feed,
                }
            }
        }
        prop_assert!(data <= input.len());
    }

    /// Chunks encoded with any sizes, in either case of hex, with extensions, come out whole.
    #[test]
    fn encoded_chunks_come_out_as_they_went_in(
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..6),
        upper in any::<bool>(),
        cuts in cuts(),
    ) {
        let mut input = Vec::new();
        for chunk in &chunks {
            let size = if upper { format!("{:X}", chunk.len()) } else { format!("{:x}", chunk.len()) };
            input.extend_from_slice(size.as_bytes());
            input.extend_from_slice(b";ext=1\r\n");
            input.extend_from_slice(chunk);
            input.extend_from_slice(b"\r\n");
        }
        input.extend_from_slice(b"0\r\n\r\n");
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut data = Vec::new();
        let mut ended = false;
        for piece in pieces(&input, &cuts) {
            buf.extend_from_slice(piece);
            loop {
                match decoder.step(&mut buf).unwrap() {
                    Step::NeedMore => break,
                    Step::Data(chunk) => data.extend_from_slice(&chunk),
                    Step::Trailers(_) => prop_assert!(false, "no trailers were sent"),
                    Step::End => {
                        ended = true;
                        break;
                    }
                }
            }
        }
        prop_assert!(ended);
        prop_assert_eq!(data, chunks.concat());
    }
}
