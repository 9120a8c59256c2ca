//! What a request must be before it is routed, so that the proxy and its origins never disagree on
//! which host it is for (RFC 9112 §3.2): at most one `Host`, a valid one, and one
//! at all from HTTP/1.1 on; a request target in origin form, absolute form (whose authority is the
//! host, whatever `Host` says), or `*` for `OPTIONS`; and not a request that came round through
//! this proxy already ([`via`](crate::via)). A refusal is answered by
//! [`respond::refused`](crate::respond::refused).

use http::header::HOST;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Method, Request, Uri, Version};

use crate::via::Via;

/// Why a request is not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More than one `Host` field.
    TwoHosts,
    /// An HTTP/1.1 or HTTP/2 request that names no host.
    NoHost,
    /// A `Host` or authority that is not `host[:port]`.
    InvalidHost,
    /// A request target in none of the forms a proxy forwards.
    InvalidTarget,
    /// The request came round: this proxy forwarded it already.
    Loop,
}

/// The host `request` is for, or why it is refused. When an HTTP/1 target carries an authority
/// (absolute form), that is the host and the client's `Host` goes: the origin gets the authority
/// as `Host`. HTTP/2's `:authority` is the host when no `Host` comes with it.
///
/// An HTTP/2 `Host` that differs from `:authority` still wins, as before. RFC 9113 §8.3.1 says a
/// server SHOULD refuse that, but Lifeline's own requests to HTTPS origins (hyper-util's client,
/// in `forward`) carry the origin's address as `:authority` and the client's `Host`: a Lifeline
/// tier behind another would refuse, or misroute by address, every request the first sends it.
pub(crate) fn admit<B>(
    request: &mut Request<B>,
    via: &Via,
) -> Result<Option<HeaderValue>, Refusal> {
    let mut hosts = request.headers().get_all(HOST).iter();
    let host = hosts.next();
    if hosts.next().is_some() {
        return Err(Refusal::TwoHosts);
    }
    if host.is_some_and(|host| !is_valid_host(host.as_bytes())) {
        return Err(Refusal::InvalidHost);
    }
    let host = host.cloned();
    let host = match request.uri().authority().cloned() {
        // Answered 405 once routed; its authority-form target names no host to route by.
        _ if request.method() == Method::CONNECT => host,
        Some(authority) => Some(authority_host(request, authority, host.as_ref())?),
        None if is_origin_target(request.method(), request.uri()) => host,
        None => return Err(Refusal::InvalidTarget),
    };
    if host.is_none() && request.version() >= Version::HTTP_11 {
        return Err(Refusal::NoHost);
    }
    if via.looped(request.headers()) {
        return Err(Refusal::Loop);
    }
    Ok(host)
}

/// The host of a request whose target has an authority; `host` is its `Host`, already checked.
fn authority_host<B>(
    request: &mut Request<B>,
    authority: Authority,
    host: Option<&HeaderValue>,
) -> Result<HeaderValue, Refusal> {
    let uri = request.uri();
    let scheme = uri.scheme();
    if scheme != Some(&Scheme::HTTP) && scheme != Some(&Scheme::HTTPS) {
        return Err(Refusal::InvalidTarget);
    }
    let named = authority.as_str();
    if !is_valid_host(named.as_bytes()) {
        return Err(Refusal::InvalidHost);
    }
    if host.is_none() && request.version() == Version::HTTP_11 {
        // RFC 9112 §3.2.2: `Host` is sent even with an absolute-form target.
        return Err(Refusal::NoHost);
    }
    // `http://host?query` has an empty path, which means `/` (RFC 9110 §4.2.3).
    if let Some(query) = uri
        .path_and_query()
        .filter(|pq| pq.as_str().starts_with('?'))
    {
        let target = PathAndQuery::try_from(format!("/{}", query.as_str()))
            .map_err(|_invalid| Refusal::InvalidTarget)?;
        *request.uri_mut() = Uri::from(target);
    }
    if !is_origin_target(request.method(), request.uri()) {
        return Err(Refusal::InvalidTarget);
    }
    if let Some(host) = host.filter(|_| request.version() == Version::HTTP_2) {
        return Ok(host.clone());
    }
    let value = HeaderValue::from_str(named).map_err(|_invalid| Refusal::InvalidHost)?;
    if host.is_some() {
        request.headers_mut().remove(HOST);
    }
    Ok(value)
}

/// A path starting with `/`, or `*` for `OPTIONS`.
fn is_origin_target(method: &Method, uri: &Uri) -> bool {
    let target = uri.path_and_query().map_or("", PathAndQuery::as_str);
    target.starts_with('/') || (target == "*" && *method == Method::OPTIONS)
}

/// `uri-host [":" port]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a registered name or IPv4 address,
/// not empty, or an IP literal in brackets. No user information, no spaces, no path.
fn is_valid_host(value: &[u8]) -> bool {
    let split = if value.first() == Some(&b'[') {
        value
            .iter()
            .position(|&byte| byte == b']')
            .map(|end| end + 1)
    } else {
        Some(
            value
                .iter()
                .position(|&byte| byte == b':')
                .unwrap_or(value.len()),
        )
    };
    let Some((host, port)) = split.map(|at| value.split_at(at)) else {
        return false;
    };
    let host_ok = match host {
        [b'[', literal @ .., b']'] => {
            !literal.is_empty()
                && literal
                    .iter()
                    .all(|&byte| byte == b':' || is_name_byte(byte))
        }
        _ => !host.is_empty() && host.iter().all(|&byte| is_name_byte(byte)),
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    host_ok && port_ok
}

/// A byte of a `reg-name`: unreserved, sub-delims, or `%` of a percent-encoding.
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b'%'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(version: Version, method: Method, target: &str, hosts: &[&str]) -> Request<()> {
        let mut request = Request::builder()
            .version(version)
            .method(method)
            .uri(target);
        for host in hosts {
            request = request.header(HOST, *host);
        }
        request.body(()).unwrap()
    }

    fn admitted(version: Version, target: &str, hosts: &[&str]) -> Result<Option<String>, Refusal> {
        let mut request = request(version, Method::GET, target, hosts);
        admit(&mut request, &Via::new())
            .map(|host| host.map(|host| host.to_str().unwrap().to_string()))
    }

    #[test]
    fn hosts_are_host_and_port() {
        for valid in [
            "a",
            "example.com:8080",
            "127.0.0.1",
            "[::1]:80",
            "[::1]",
            "a:",
            "x_y-z~",
        ] {
            assert!(is_valid_host(valid.as_bytes()), "{valid}");
        }
        for invalid in [
            "", ":80", "a b", "user@a", "a/b", "a:8o", "[::1", "[]", "[::1]x", "a:1:2", "\"a\"",
        ] {
            assert!(!is_valid_host(invalid.as_bytes()), "{invalid}");
        }
    }

    #[test]
    fn the_host_of_an_origin_form_request_is_its_host_field() {
        let v11 = Version::HTTP_11;
        assert_eq!(admitted(v11, "/a", &["a"]), Ok(Some("a".into())));
        assert_eq!(admitted(v11, "/a", &["a", "b"]), Err(Refusal::TwoHosts));
        assert_eq!(admitted(v11, "/a", &["a", "a"]), Err(Refusal::TwoHosts));
        assert_eq!(admitted(v11, "/a", &[]), Err(Refusal::NoHost));
        assert_eq!(admitted(v11, "/a", &[""]), Err(Refusal::InvalidHost));
        assert_eq!(admitted(v11, "/a", &["a b"]), Err(Refusal::InvalidHost));
        assert_eq!(admitted(Version::HTTP_10, "/a", &[]), Ok(None));
        assert_eq!(admitted(Version::HTTP_2, "/a", &[]), Err(Refusal::NoHost));
    }

    #[test]
    fn an_absolute_target_names_the_host_and_host_goes() {
        let mut absolute = request(
            Version::HTTP_11,
            Method::GET,
            "http://internal/x",
            &["public"],
        );
        let host = admit(&mut absolute, &Via::new()).unwrap().unwrap();
        assert_eq!(host, "internal");
        assert!(absolute.headers().get(HOST).is_none());
        assert_eq!(absolute.uri().path_and_query().unwrap(), "/x");

        let mut query = request(Version::HTTP_11, Method::GET, "http://a?q=1", &["a"]);
        assert_eq!(admit(&mut query, &Via::new()).unwrap().unwrap(), "a");
        assert_eq!(query.uri().path_and_query().unwrap(), "/?q=1");

        let v11 = Version::HTTP_11;
        assert_eq!(admitted(v11, "http://a/", &[]), Err(Refusal::NoHost));
        assert_eq!(
            admitted(v11, "ftp://a/", &["a"]),
            Err(Refusal::InvalidTarget)
        );
        assert_eq!(
            admitted(v11, "http://u@a/", &["a"]),
            Err(Refusal::InvalidHost)
        );
        assert_eq!(
            admitted(v11, "http://:80/", &["a"]),
            Err(Refusal::InvalidHost)
        );
        assert_eq!(
            admitted(Version::HTTP_10, "http://a/", &[]),
            Ok(Some("a".into()))
        );
    }

    #[test]
    fn the_http2_host_is_host_else_the_authority() {
        let v2 = Version::HTTP_2;
        assert_eq!(
            admitted(v2, "https://a:8443/", &[]),
            Ok(Some("a:8443".into()))
        );
        assert_eq!(admitted(v2, "https://a/", &["b"]), Ok(Some("b".into())));
        assert_eq!(
            admitted(v2, "https://a/", &["b c"]),
            Err(Refusal::InvalidHost)
        );
        assert_eq!(
            admitted(v2, "https://u@a/", &["a"]),
            Err(Refusal::InvalidHost)
        );
        assert_eq!(admitted(v2, "/", &[]), Err(Refusal::NoHost));
    }

    #[test]
    fn targets_in_no_forwarding_form_are_refused() {
        let v11 = Version::HTTP_11;
        assert_eq!(admitted(v11, "foo", &["a"]), Err(Refusal::InvalidTarget));
        assert_eq!(admitted(v11, "foo:80", &["a"]), Err(Refusal::InvalidTarget));
        assert_eq!(admitted(v11, "*", &["a"]), Err(Refusal::InvalidTarget));
        let mut options = request(v11, Method::OPTIONS, "*", &["a"]);
        assert!(admit(&mut options, &Via::new()).is_ok());
        let mut connect = request(v11, Method::CONNECT, "a:443", &["a"]);
        assert_eq!(admit(&mut connect, &Via::new()).unwrap().unwrap(), "a");
    }

    #[test]
    fn a_request_with_this_proxys_via_came_round() {
        let via = Via::new();
        let mut request = request(Version::HTTP_11, Method::GET, "/", &["a"]);
        request
            .headers_mut()
            .insert(http::header::VIA, via.element(Version::HTTP_11));
        assert_eq!(admit(&mut request, &via), Err(Refusal::Loop));
        assert!(admit(&mut request, &Via::new()).is_ok());
    }
}
