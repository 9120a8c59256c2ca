//! Header rewriting at the proxy.
//!
//! Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and the headers it names, `Keep-Alive`,
//! `Proxy-Connection`, `TE` but for `trailers`, `Transfer-Encoding`, `Upgrade` but when
//! upgrading, and the proxy credentials `Proxy-Authenticate` and `Proxy-Authorization`) are
//! dropped in both directions; the forwarding headers (`X-Forwarded-For`, `X-Forwarded-Proto`,
//! RFC 7239 `Forwarded`, and this process's `Via`) are added to requests; the affinity cookie is read and set here.

use std::net::IpAddr;
use std::sync::OnceLock;

use http::header::{
    CONNECTION, COOKIE, DATE, Entry, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, SET_COOKIE, TE,
    TRANSFER_ENCODING, UPGRADE, VIA,
};
use http::{HeaderMap, HeaderName, HeaderValue, Version};

use crate::route::AFFINITY_COOKIE;

pub(crate) const X_ORIGIN: HeaderName = HeaderName::from_static("x-origin");
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Hop-by-hop headers dropped whatever `Connection` says (besides `Connection`, `TE` and
/// `Upgrade`, which have rules of their own). `strip_hop_by_hop` matches the same names.
const HOP_BY_HOP: [HeaderName; 5] = [
    KEEP_ALIVE,
    PROXY_CONNECTION,
    TRANSFER_ENCODING,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
];

/// What the forwarding headers say about one client connection, made once per connection.
pub(crate) struct Forwarding {
    /// The client address as an `X-Forwarded-For` element.
    client: HeaderValue,
    /// `for=...;proto=...`, the start of this proxy's `Forwarded` element.
    forwarded: String,
    proto: HeaderValue,
    /// The whole `Forwarded` value for the connection's first `Host` (which its later requests
    /// nearly always repeat) when the request brought no `Forwarded` of its own.
    own: OnceLock<(Option<Box<str>>, HeaderValue)>,
}

// === impl Forwarding ===

impl Forwarding {
    pub(crate) fn new(client: IpAddr, tls: bool) -> Self {
        let proto = if tls { "https" } else { "http" };
        let forwarded = match client {
            IpAddr::V4(v4) => format!("for={v4};proto={proto}"),
            IpAddr::V6(v6) => format!("for=\"[{v6}]\";proto={proto}"),
        };
        Self {
            client: HeaderValue::try_from(client.to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown")),
            forwarded,
            proto: HeaderValue::from_static(proto),
            own: OnceLock::new(),
        }
    }

    /// Appends the client to `X-Forwarded-For`, this hop to `Forwarded` and `via` (the proxy's
    /// `Via` element) to `Via`, and sets `X-Forwarded-Proto`. `host` is the host the client
    /// asked for.
    pub(crate) fn apply(&self, headers: &mut HeaderMap, host: Option<&str>, via: HeaderValue) {
        // Its own field line after any earlier ones: appending needs no copy of them.
        headers.append(VIA, via);
        match headers.entry(X_FORWARDED_FOR) {
            Entry::Vacant(entry) => {
                entry.insert(self.client.clone());
            }
            Entry::Occupied(mut entry) => {
                let mut list = Vec::new();
                for value in entry.iter() {
                    list.extend_from_slice(value.as_bytes());
                    list.extend_from_slice(b", ");
                }
                list.extend_from_slice(self.client.as_bytes());
                let joined = HeaderValue::from_maybe_shared(bytes::Bytes::from(list))
                    .unwrap_or_else(|_| self.client.clone());
                entry.insert(joined);
            }
        }
        headers.insert(X_FORWARDED_PROTO, self.proto.clone());

        match headers.entry(FORWARDED) {
            Entry::Vacant(entry) => {
                if let Some(value) = self.own_element(host) {
                    entry.insert(value);
                }
            }
            Entry::Occupied(mut entry) => {
                let mut element = String::with_capacity(self.forwarded.len() + 64);
                for earlier in entry.iter() {
                    if let Ok(earlier) = earlier.to_str() {
                        element.push_str(earlier);
                        element.push_str(", ");
                    }
                }
                if let Some(value) = self.element(element, host) {
                    entry.insert(value);
                }
            }
        }
    }

    /// This hop's `Forwarded` element alone, cached for the connection's first `Host`.
    fn own_element(&self, host: Option<&str>) -> Option<HeaderValue> {
        if let Some((cached_host, value)) = self.own.get()
            && cached_host.as_deref() == host
        {
            return Some(value.clone());
        }
        let value = self.element(String::with_capacity(self.forwarded.len() + 64), host)?;
        // Another request of the connection may have filled it meanwhile: either is right.
        let _cached = self.own.set((host.map(Box::from), value.clone()));
        Some(value)
    }

    /// `earlier` followed by this hop's element.
    fn element(&self, mut element: String, host: Option<&str>) -> Option<HeaderValue> {
        element.push_str(&self.forwarded);
        if let Some(host) = host {
            element.push_str(";host=");
            push_token_or_quoted(&mut element, host);
        }
        match HeaderValue::try_from(element) {
            Ok(value) => Some(value),
            Err(err) => {
                tracing::debug!(error = %err, "cannot build a Forwarded header");
                None
            }
        }
    }
}

/// An RFC 7230 token as it is, anything else as a quoted string.
fn push_token_or_quoted(out: &mut String, value: &str) {
    let is_tchar = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if !value.is_empty() && value.chars().all(is_tchar) {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// Whether a request asks to switch protocols (WebSocket and the like): HTTP/1.1 with
/// `Connection: upgrade` and an `Upgrade` header.
pub(crate) fn is_upgrade(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_11
        && headers.contains_key(UPGRADE)
        && connection_tokens(headers).any(|token| token.eq_ignore_ascii_case("upgrade"))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Drops hop-by-hop headers. When `upgrading`, `Connection: upgrade` and `Upgrade` stay.
///
/// One pass over the names finds which are present, so that a message without any (most
/// requests) costs no lookups.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    let mut connection = false;
    let mut te = false;
    let mut upgrade = false;
    let mut others = false;
    for name in headers.keys() {
        // Names are stored in lower case: a string match is a length switch and a compare.
        match name.as_str() {
            "connection" => connection = true,
            "te" => te = true,
            "upgrade" => upgrade = true,
            "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "proxy-authenticate"
            | "proxy-authorization" => others = true,
            _ => {}
        }
    }
    if connection && !names_other_headers(headers, upgrading) {
        // Only options (`keep-alive`, `close`) or headers that stay: nothing else to drop.
        headers.remove(CONNECTION);
    } else if connection && let Entry::Occupied(entry) = headers.entry(CONNECTION) {
        let values: Vec<HeaderValue> = entry.remove_entry_mult().1.collect();
        for token in values
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(str::trim)
        {
            let keep = token.eq_ignore_ascii_case(HOST.as_str())
                || (upgrading && token.eq_ignore_ascii_case(UPGRADE.as_str()));
            if !keep {
                headers.remove(token);
            }
        }
    }
    if others {
        for name in HOP_BY_HOP {
            headers.remove(name);
        }
    }
    if te && let Some(te) = headers.remove(TE) {
        let trailers = te.to_str().is_ok_and(|te| {
            te.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
        if trailers {
            headers.insert(TE, HeaderValue::from_static("trailers"));
        }
    }
    if upgrading {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else if upgrade {
        headers.remove(UPGRADE);
    }
}

/// Whether `Connection` names a header to drop, rather than only the `keep-alive` and `close`
/// options (the `Keep-Alive` header goes anyway) or headers that stay.
fn names_other_headers(headers: &HeaderMap, upgrading: bool) -> bool {
    connection_tokens(headers).any(|token| {
        !(token.eq_ignore_ascii_case("keep-alive")
            || token.eq_ignore_ascii_case("close")
            || token.eq_ignore_ascii_case(HOST.as_str())
            || (upgrading && token.eq_ignore_ascii_case(UPGRADE.as_str())))
    })
}

/// Adds `Date` to a response that has none (the proxy's own answers, or an origin without a
/// clock), as RFC 9110 §6.6.1 asks of a proxy.
pub(crate) fn ensure_date(headers: &mut HeaderMap) {
    if let Entry::Vacant(entry) = headers.entry(DATE) {
        let now = httpdate::fmt_http_date(std::time::SystemTime::now());
        if let Ok(value) = HeaderValue::try_from(now) {
            entry.insert(value);
        }
    }
}

/// The value of the affinity cookie, if the client sent one.
pub(crate) fn affinity_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name.trim() == AFFINITY_COOKIE).then(|| value.trim().trim_matches('"'))
        })
}

/// Adds `Set-Cookie` for the affinity cookie.
pub(crate) fn set_affinity_cookie(headers: &mut HeaderMap, value: &str) {
    let cookie = format!("{AFFINITY_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax");
    match HeaderValue::try_from(cookie) {
        Ok(cookie) => {
            headers.append(SET_COOKIE, cookie);
        }
        Err(err) => tracing::warn!(error = %err, "affinity cookie value is not a valid header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn a_response_without_date_gets_one_and_an_origins_date_stays() {
        let mut own = HeaderMap::new();
        ensure_date(&mut own);
        let date = own.get(DATE).expect("added").to_str().unwrap();
        assert!(httpdate::parse_http_date(date).is_ok(), "{date}");

        let origin_date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let mut origin = map(&[("date", origin_date)]);
        ensure_date(&mut origin);
        assert_eq!(
            origin.get_all(DATE).iter().collect::<Vec<_>>(),
            [origin_date]
        );
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_names_go() {
        let mut headers = map(&[
            ("connection", "keep-alive, x-secret"),
            ("connection", "Host"),
            ("keep-alive", "timeout=5"),
            ("x-secret", "1"),
            ("proxy-authorization", "Basic abc"),
            ("te", "gzip, trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("host", "example.com"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut headers, false);
        let mut names: Vec<_> = headers.keys().map(|n| n.as_str().to_string()).collect();
        names.sort();
        assert_eq!(names, ["accept", "host", "te"]);
        assert_eq!(headers[TE], "trailers");
    }

    #[test]
    fn connection_with_only_options_goes_alone() {
        let mut headers = map(&[("connection", "Keep-Alive"), ("accept", "*/*")]);
        strip_hop_by_hop(&mut headers, false);
        let names: Vec<_> = headers.keys().map(|n| n.as_str().to_string()).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn upgrades_keep_upgrade_and_connection() {
        let mut headers = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(Version::HTTP_11, &headers));
        assert!(!is_upgrade(Version::HTTP_10, &headers));
        strip_hop_by_hop(&mut headers, true);
        assert_eq!(headers[CONNECTION], "upgrade");
        assert_eq!(headers[UPGRADE], "websocket");
    }

    #[test]
    fn forwarding_appends_to_what_came_before() {
        let mut headers = map(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
            ("via", "1.1 edge"),
        ]);
        Forwarding::new("2001:db8::1".parse().unwrap(), true).apply(
            &mut headers,
            Some("example.com:8443"),
            HeaderValue::from_static("2 lifeline-0123456789abcdef"),
        );
        assert_eq!(headers[X_FORWARDED_FOR], "203.0.113.9, 2001:db8::1");
        assert_eq!(headers[X_FORWARDED_PROTO], "https");
        assert_eq!(
            headers[FORWARDED],
            r#"for=203.0.113.9, for="[2001:db8::1]";proto=https;host="example.com:8443""#
        );

        let mut fresh = HeaderMap::new();
        Forwarding::new("192.0.2.7".parse().unwrap(), false).apply(
            &mut fresh,
            Some("example.com"),
            HeaderValue::from_static("1.1 lifeline-0123456789abcdef"),
        );
        assert_eq!(fresh[X_FORWARDED_FOR], "192.0.2.7");
        assert_eq!(
            fresh[FORWARDED],
            "for=192.0.2.7;proto=http;host=example.com"
        );
        assert_eq!(fresh[VIA], "1.1 lifeline-0123456789abcdef");
        let vias: Vec<_> = headers.get_all(VIA).iter().collect();
        assert_eq!(vias, ["1.1 edge", "2 lifeline-0123456789abcdef"]);
    }

    #[test]
    fn affinity_cookie_is_found_among_others() {
        let headers = map(&[("cookie", "a=1; lifeline_origin=web-2 ; b=2")]);
        assert_eq!(affinity_cookie(&headers), Some("web-2"));
        assert_eq!(affinity_cookie(&map(&[("cookie", "a=1")])), None);
        let mut response = HeaderMap::new();
        set_affinity_cookie(&mut response, "web-2");
        assert_eq!(
            response[SET_COOKIE],
            "lifeline_origin=web-2; Path=/; HttpOnly; SameSite=Lax"
        );
    }
}
