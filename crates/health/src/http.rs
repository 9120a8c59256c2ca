//! `http` and `https` checks with reqwest: one client per monitor, one URL per origin.

use std::io;
use std::sync::{Arc, Once};

use lifeline_model::{
    CheckFailure, CodeMatcher, FailureKind, HostPort, HttpCheck, Origin, OriginName,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Method, Url, redirect};

use crate::failure::{causes, describe};
use crate::probe::{CheckFuture, Probe, observe};

/// How much of a body `expected_body` is searched in.
const BODY_LIMIT: usize = 64 * 1024;

/// Redirects followed when `follow_redirects` is on.
const MAX_REDIRECTS: usize = 10;

/// What every probe of one http monitor shares.
pub(crate) struct HttpMonitor {
    client: Client,
    method: Method,
    headers: HeaderMap,
    scheme: &'static str,
    path: String,
    port: Option<u16>,
    expected_codes: CodeMatcher,
    expected_body: Option<String>,
}

// === impl HttpMonitor ===

impl HttpMonitor {
    /// Builds the client, method and headers once; a monitor that cannot work reports why on
    /// every check.
    pub(crate) fn new(check: &HttpCheck) -> Result<Self, CheckFailure> {
        let invalid = |message: String| CheckFailure::new(FailureKind::Protocol, message);
        let method = Method::from_bytes(check.method.as_bytes())
            .map_err(|_| invalid(format!("`{}` is not an HTTP method", check.method)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &check.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("`{name}` is not a header name")))?;
            // The value may be a credential: name the header, never the value.
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("the value of header `{name}` is not valid")))?;
            headers.append(name, value);
        }
        install_crypto_provider();
        let redirects = if check.follow_redirects {
            redirect::Policy::limited(MAX_REDIRECTS)
        } else {
            redirect::Policy::none()
        };
        let client = Client::builder()
            .redirect(redirects)
            .tls_danger_accept_invalid_certs(check.allow_insecure)
            .no_proxy()
            .user_agent(concat!("lifeline-health/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| {
                CheckFailure::new(
                    FailureKind::Tls,
                    format!("cannot build the HTTP client: {}", describe(&err)),
                )
            })?;
        Ok(Self {
            client,
            method,
            headers,
            scheme: if check.tls { "https" } else { "http" },
            path: check.path.clone(),
            port: check.port,
            expected_codes: check.expected_codes.clone(),
            expected_body: check.expected_body.clone(),
        })
    }

    /// `scheme://host:port/path`, the port the monitor's if it has one.
    fn url(&self, origin: &Origin) -> Result<Url, CheckFailure> {
        let address = HostPort {
            host: origin.address.host.clone(),
            port: self.port.unwrap_or(origin.address.port),
        };
        let text = format!("{}://{address}{}", self.scheme, self.path);
        Url::parse(&text).map_err(|err| {
            CheckFailure::new(
                FailureKind::Protocol,
                format!("`{text}` is not a URL: {err}"),
            )
        })
    }

    async fn check(&self, url: &Url) -> Result<(), CheckFailure> {
        let mut response = self
            .client
            .request(self.method.clone(), url.clone())
            .headers(self.headers.clone())
            .send()
            .await
            .map_err(classify)?;
        let status = response.status().as_u16();
        if !self.expected_codes.matches(status) {
            return Err(CheckFailure::new(
                FailureKind::Status,
                format!("got {status}, expected {}", self.expected_codes),
            ));
        }
        let Some(expected) = &self.expected_body else {
            return Ok(());
        };
        let mut body = Vec::new();
        while body.len() < BODY_LIMIT {
            match response.chunk().await.map_err(classify)? {
                Some(chunk) => body.extend_from_slice(&chunk),
                None => break,
            }
        }
        body.truncate(BODY_LIMIT);
        if contains(&body, expected.as_bytes()) {
            Ok(())
        } else {
            Err(CheckFailure::new(
                FailureKind::Body,
                format!(
                    "the first {} bytes of the body do not contain {:?}",
                    body.len(),
                    shorten(expected)
                ),
            ))
        }
    }
}

/// One origin's http check.
pub(crate) struct HttpProbe {
    origin: OriginName,
    target: Result<(Arc<HttpMonitor>, Url), CheckFailure>,
}

// === impl HttpProbe ===

impl HttpProbe {
    pub(crate) fn new(monitor: &Result<Arc<HttpMonitor>, CheckFailure>, origin: &Origin) -> Self {
        let target = match monitor {
            Ok(http) => http.url(origin).map(|url| (Arc::clone(http), url)),
            Err(failure) => Err(failure.clone()),
        };
        Self {
            origin: origin.name.clone(),
            target,
        }
    }
}

impl Probe for HttpProbe {
    fn origin(&self) -> &OriginName {
        &self.origin
    }

    fn check(&mut self) -> CheckFuture<'_> {
        Box::pin(observe(self.origin.clone(), async {
            let outcome = match &self.target {
                Ok((monitor, url)) => monitor.check(url).await,
                Err(failure) => Err(failure.clone()),
            };
            (outcome, None)
        }))
    }
}

/// Installs ring as the process's rustls provider, once; a provider someone else installed first
/// is kept.
fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::ring::default_provider()
            .install_default()
            .is_err()
        {
            tracing::debug!("a rustls crypto provider was already installed; keeping it");
        }
    });
}

/// Maps a reqwest error to a failure kind, best effort, with the URL left out of the message.
fn classify(err: reqwest::Error) -> CheckFailure {
    let err = err.without_url();
    let kind = if is_tls(&err) {
        FailureKind::Tls
    } else if err.is_timeout() {
        FailureKind::Timeout
    } else if err.is_connect() || is_connection_lost(&err) {
        FailureKind::Connect
    } else {
        FailureKind::Protocol
    };
    CheckFailure::new(kind, describe(&err))
}

/// Any rustls error among the causes.
fn is_tls(err: &reqwest::Error) -> bool {
    causes(err).any(|cause| cause.is::<rustls::Error>())
}

/// A connection refused, reset or cut under an already-sent request.
fn is_connection_lost(err: &reqwest::Error) -> bool {
    causes(err).any(|cause| {
        cause.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::NotConnected
            )
        })
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// At most 64 characters of `text`, for a message.
fn shorten(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_body_substring() {
        assert!(contains(b"{\"status\":\"healthy\"}", b"healthy"));
        assert!(!contains(b"unhealth", b"healthy"));
        assert!(contains(b"", b""));
    }

    #[test]
    fn shortens_long_expectations() {
        assert_eq!(shorten("short"), "short");
        let long = "x".repeat(100);
        assert_eq!(shorten(&long), format!("{}...", "x".repeat(64)));
    }
}
