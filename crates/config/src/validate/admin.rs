//! `[admin]`: where the admin API listens, its token, its connection limits, and the state file.
//!
//! A non-loopback `listen` without a token is valid but rarely meant, so it is a warning.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;

use lifeline_model::{AdminLimits, AdminSettings};

use super::fields;
use crate::diagnostics::Report;
use crate::raw::RawAdmin;

const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9090));
const DEFAULT_STATE_FILE: &str = "lifeline.redb";
/// More than a daemon's descriptors would allow anyway.
const MAX_CONNECTIONS: i64 = 1 << 20;

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
    let limits = limits(raw, report);
    let directory = file.parent().unwrap_or(Path::new(""));
    Some(AdminSettings {
        listen: listen?,
        token: token?,
        state_file: directory.join(state_file?),
        limits: limits?,
    })
}

fn limits(raw: &RawAdmin, report: &mut Report<'_>) -> Option<AdminLimits> {
    let defaults = AdminLimits::default();
    let header_timeout = fields::duration(
        &raw.header_timeout,
        "header_timeout",
        defaults.header_timeout,
        report,
    );
    let idle_timeout = fields::duration(
        &raw.idle_timeout,
        "idle_timeout",
        defaults.idle_timeout,
        report,
    );
    let max_connections = fields::integer(
        &raw.max_connections,
        "max_connections",
        defaults.max_connections as i64,
        1..=MAX_CONNECTIONS,
        report,
    );
    Some(AdminLimits {
        header_timeout: header_timeout?,
        idle_timeout: idle_timeout?,
        max_connections: usize::try_from(max_connections?).ok()?,
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use lifeline_model::AdminLimits;

    use crate::parse;

    /// Something to run, so that a file is valid.
    const POOL: &str =
        "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";

    #[test]
    fn limits_have_defaults_and_can_be_set() {
        let env = HashMap::new();
        let loaded = parse(Path::new("lifeline.toml"), POOL, &env).unwrap();
        assert_eq!(loaded.topology.admin.limits, AdminLimits::default());

        let text = format!(
            "[admin]\nheader_timeout = \"2s\"\nidle_timeout = \"500ms\"\nmax_connections = 8\n{POOL}"
        );
        let loaded = parse(Path::new("lifeline.toml"), &text, &env).unwrap();
        assert_eq!(
            loaded.topology.admin.limits,
            AdminLimits {
                header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_millis(500),
                max_connections: 8,
            }
        );
    }

    #[test]
    fn impossible_limits_are_reported_together() {
        let text =
            "[admin]\nheader_timeout = \"0s\"\nidle_timeout = \"soon\"\nmax_connections = 0\n";
        let diagnostics = parse(Path::new("lifeline.toml"), text, &HashMap::new()).unwrap_err();
        let found: Vec<(usize, String)> = diagnostics
            .into_iter()
            .map(|d| (d.line, d.message))
            .collect();
        assert_eq!(
            found,
            [
                (2, "`header_timeout` must be longer than zero".to_string()),
                (
                    3,
                    "`idle_timeout`: `soon` is not a duration like \"500ms\", \"5s\" or \"1m\""
                        .to_string()
                ),
                (4, "`max_connections` must be at least 1, not 0".to_string()),
            ]
        );
    }
}
