//! The proxy's own `Via` element (RFC 9110 §7.6.3), which every forwarded request carries, and
//! the loop it reveals: a request that arrives with it already passed through this proxy (an
//! origin that points back at one of its own listeners) and is answered 508 rather than sent
//! round again until its headers overflow.
//!
//! The pseudonym is `lifeline-` and 16 random hex digits, drawn for each routing generation
//! ([`Compiled`](crate::compiled::Compiled)): two Lifeline tiers in a row, even two data planes
//! in one process, are no loop. A loop that spans a new generation is caught one hop later.

use std::hash::{BuildHasher, RandomState};

use http::header::VIA;
use http::{HeaderMap, HeaderValue, Version};

/// One generation's `Via` element.
pub(crate) struct Via {
    /// `lifeline-` and 16 hex digits.
    pseudonym: Box<str>,
    /// The element for a request received over HTTP/1.0, HTTP/1.1 and HTTP/2.
    elements: [HeaderValue; 3],
}

// === impl Via ===

impl Via {
    pub(crate) fn new() -> Self {
        // `RandomState` draws its keys from the operating system's randomness.
        let random = RandomState::new().hash_one(std::process::id());
        let pseudonym = format!("lifeline-{random:016x}");
        let element = |protocol: &str| {
            HeaderValue::try_from(format!("{protocol} {pseudonym}"))
                .expect("a version and hex digits make a header value")
        };
        Self {
            elements: [element("1.0"), element("1.1"), element("2")],
            pseudonym: pseudonym.into(),
        }
    }

    /// The element for a request the client sent over `version`.
    pub(crate) fn element(&self, version: Version) -> HeaderValue {
        let index = if version == Version::HTTP_10 {
            0
        } else if version == Version::HTTP_2 {
            2
        } else {
            1
        };
        self.elements[index].clone()
    }

    /// Whether `headers` hold this element: the request came round.
    pub(crate) fn looped(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(VIA)
            .iter()
            .any(|value| names(value.as_bytes(), self.pseudonym.as_bytes()))
    }
}

/// Whether a `Via` field value has an element received by `pseudonym`: elements are
/// `protocol received-by [comment]`, separated by commas.
fn names(value: &[u8], pseudonym: &[u8]) -> bool {
    value.split(|&byte| byte == b',').any(|element| {
        let mut words = element
            .split(u8::is_ascii_whitespace)
            .filter(|word| !word.is_empty());
        words.next().is_some() && words.next() == Some(pseudonym)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_element_is_recognised_among_others_and_anothers_is_not() {
        let via = Via::new();
        let own = via.element(Version::HTTP_11);
        let own = own.to_str().unwrap();
        assert!(own.starts_with("1.1 lifeline-"), "{own}");
        assert_eq!(own.len(), "1.1 lifeline-".len() + 16);
        let pseudonym = &own[4..];
        assert_eq!(
            via.element(Version::HTTP_2).to_str().unwrap(),
            format!("2 {pseudonym}")
        );

        let mut headers = HeaderMap::new();
        headers.append(VIA, HeaderValue::from_static("1.0 fred, 1.1 p.example.net"));
        headers.append(VIA, Via::new().element(Version::HTTP_11));
        assert!(!via.looped(&headers));
        let mine = format!("1.1 edge (proxy), HTTP/2  {pseudonym} (Lifeline)");
        headers.append(VIA, HeaderValue::try_from(mine).unwrap());
        assert!(via.looped(&headers));
        assert!(!via.looped(&HeaderMap::new()));
    }
}
