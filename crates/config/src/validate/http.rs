//! The `http` and `https` part of a monitor: method, path, port, headers, expected response.

use lifeline_model::{CodeMatcher, HttpCheck};

use super::fields;
use super::monitor::{postgres_fields, reject};
use crate::diagnostics::Report;
use crate::raw::RawMonitor;

const DEFAULT_METHOD: &str = "GET";
const DEFAULT_PATH: &str = "/";

/// Checks the http fields of `raw`; `tls` for `https`.
pub(super) fn check(raw: &RawMonitor, tls: bool, report: &mut Report<'_>) -> Option<HttpCheck> {
    let kind = if tls { "https" } else { "http" };
    let no_postgres = reject(&postgres_fields(raw), "postgres", kind, report);
    let insecure_ok = tls || !reject_insecure(raw, report);
    let method = method(raw, report);
    let path = path(raw, report);
    let port = match &raw.port {
        None => Some(None),
        Some(_) => fields::integer(&raw.port, "port", 0, 1..=65535, report)
            .and_then(|port| u16::try_from(port).ok())
            .map(Some),
    };
    let headers = headers(raw, report);
    let expected_codes = expected_codes(raw, report);
    if !(no_postgres && insecure_ok) {
        return None;
    }
    Some(HttpCheck {
        tls,
        method: method?,
        path: path?,
        port: port?,
        headers: headers?,
        expected_codes: expected_codes?,
        expected_body: raw
            .expected_body
            .as_ref()
            .map(|body| body.get_ref().clone()),
        follow_redirects: raw.follow_redirects.as_ref().is_some_and(|f| *f.get_ref()),
        allow_insecure: raw.allow_insecure.as_ref().is_some_and(|f| *f.get_ref()),
    })
}

/// The http-only keys of a monitor, with their positions when present.
pub(super) fn fields(raw: &RawMonitor) -> [(&'static str, Option<usize>); 8] {
    [
        ("method", fields::position(&raw.method)),
        ("path", fields::position(&raw.path)),
        ("port", fields::position(&raw.port)),
        ("headers", fields::position(&raw.headers)),
        ("expected_codes", fields::position(&raw.expected_codes)),
        ("expected_body", fields::position(&raw.expected_body)),
        ("follow_redirects", fields::position(&raw.follow_redirects)),
        ("allow_insecure", fields::position(&raw.allow_insecure)),
    ]
}

/// `allow_insecure` on a plain http monitor; true when reported.
fn reject_insecure(raw: &RawMonitor, report: &mut Report<'_>) -> bool {
    let Some(at) = fields::position(&raw.allow_insecure) else {
        return false;
    };
    report.error(at, "`allow_insecure` applies to https monitors, not http");
    true
}

fn method(raw: &RawMonitor, report: &mut Report<'_>) -> Option<String> {
    let Some(method) = &raw.method else {
        return Some(DEFAULT_METHOD.to_string());
    };
    let text = method.get_ref();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        report.error(
            method.span().start,
            format!("`method`: `{text}` is not an HTTP method in capitals, like GET or HEAD"),
        );
        return None;
    }
    Some(text.clone())
}

fn path(raw: &RawMonitor, report: &mut Report<'_>) -> Option<String> {
    let Some(path) = &raw.path else {
        return Some(DEFAULT_PATH.to_string());
    };
    let text = path.get_ref();
    if !text.starts_with('/') {
        report.error(path.span().start, "`path` must start with `/`");
        return None;
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        report.error(
            path.span().start,
            "`path` must not contain spaces or control characters",
        );
        return None;
    }
    Some(text.clone())
}

fn headers(raw: &RawMonitor, report: &mut Report<'_>) -> Option<Vec<(String, String)>> {
    let Some(headers) = &raw.headers else {
        return Some(Vec::new());
    };
    let mut valid = true;
    for (name, value) in headers.get_ref() {
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            report.error(
                value.span().start,
                format!("`{name}` is not a valid header name"),
            );
            valid = false;
        }
        if value.get_ref().chars().any(|c| c.is_control() && c != '\t') {
            report.error(
                value.span().start,
                format!("the value of header `{name}` must not contain control characters"),
            );
            valid = false;
        }
    }
    let headers = headers.get_ref().iter();
    valid.then(|| {
        headers
            .map(|(name, value)| (name.clone(), value.get_ref().clone()))
            .collect()
    })
}

/// RFC 9110 `tchar`: the bytes allowed in a header name.
pub(super) fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn expected_codes(raw: &RawMonitor, report: &mut Report<'_>) -> Option<CodeMatcher> {
    let Some(codes) = &raw.expected_codes else {
        return Some(CodeMatcher::default());
    };
    CodeMatcher::parse(&codes.get_ref().0)
        .map_err(|message| report.error(codes.span().start, message))
        .ok()
}
