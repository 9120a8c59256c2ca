//! `[admin]`: where the admin API listens, its token, and the state file.
//!
//! A non-loopback `listen` without a token is valid but rarely meant, so it is a warning.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

use lifeline_model::AdminSettings;

use super::fields;
use crate::diagnostics::Report;
use crate::raw::RawAdmin;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9090));
const DEFAULT_STATE_FILE: &str = "lifeline.redb";

/// Checks `[admin]` (absent means every default). A relative `state_file` is resolved against the
/// directory of `file`, the config file.
pub(super) fn settings(
    raw: Option<&RawAdmin>,
    file: &Path,
    report: &mut Report<'_>,
) -> Option<AdminSettings> {
    let defaults = RawAdmin::default();
    let raw = raw.unwrap_or(&defaults);
    let listen = listen(raw, report);
    let token = fields::secret(&raw.token, "token", report);
    if let (Some(address), Some(text), None) = (listen, &raw.listen, &raw.token)
        && !address.ip().is_loopback()
    {
        report.warn(
            text.span().start,
            "the admin API listens beyond this machine without a `token`: it shows the \
             topology to anyone who can reach it and refuses every change; set `token = \
             \"${LIFELINE_TOKEN}\"` or listen on 127.0.0.1",
        );
    }
    let state_file = state_file(raw, report);
    let directory = file.parent().unwrap_or(Path::new(""));
    Some(AdminSettings {
        listen: listen?,
        token: token?,
        state_file: directory.join(state_file?),
    })
}

fn listen(raw: &RawAdmin, report: &mut Report<'_>) -> Option<SocketAddr> {
    let Some(text) = &raw.listen else {
        return Some(DEFAULT_LISTEN);
    };
    let parsed = text.get_ref().parse().ok();
    if parsed.is_none() {
        report.error(
            text.span().start,
            format!(
                "`listen`: `{}` is not an IP address and port like 127.0.0.1:9090",
                text.get_ref()
            ),
        );
    }
    parsed
}

fn state_file<'a>(raw: &'a RawAdmin, report: &mut Report<'_>) -> Option<&'a str> {
    let Some(text) = &raw.state_file else {
        return Some(DEFAULT_STATE_FILE);
    };
    if text.get_ref().is_empty() {
        report.error(text.span().start, "`state_file` must not be empty");
        return None;
    }
    Some(text.get_ref())
}
