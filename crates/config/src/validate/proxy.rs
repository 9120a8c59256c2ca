//! `[proxy]`: the limits on the load balancers' clients.

use std::time::Duration;

use lifeline_model::ProxySettings;

use super::fields;
use crate::diagnostics::Report;
use crate::raw::{Field, RawProxy};

/// Connections one listener may serve at once, at most: beyond that a per-listener limit no
/// longer protects anything a file descriptor limit would not.
const MAX_CONNECTIONS: i64 = 1_000_000;

/// The shortest idle and send timeouts: the connection watchdog looks ten times per timeout.
const MIN_WATCHED_TIMEOUT: Duration = Duration::from_millis(100);

/// Checks `[proxy]` (absent means every default).
pub(super) fn settings(raw: Option<&RawProxy>, report: &mut Report<'_>) -> Option<ProxySettings> {
    let defaults = ProxySettings::default();
    let none = RawProxy::default();
    let raw = raw.unwrap_or(&none);
    let idle_timeout = fields::duration(
        &raw.idle_timeout,
        "idle_timeout",
        defaults.idle_timeout,
        report,
    );
    let client_body_timeout = fields::duration(
        &raw.client_body_timeout,
        "client_body_timeout",
        defaults.client_body_timeout,
        report,
    );
    let send_timeout = fields::duration(
        &raw.send_timeout,
        "send_timeout",
        defaults.send_timeout,
        report,
    );
    let max_connections = fields::integer(
        &raw.max_connections,
        "max_connections",
        i64::from(defaults.max_connections),
        1..=MAX_CONNECTIONS,
        report,
    );
    let idle_timeout = at_least_watched(&raw.idle_timeout, "idle_timeout", idle_timeout, report);
    let send_timeout = at_least_watched(&raw.send_timeout, "send_timeout", send_timeout, report);
    Some(ProxySettings {
        idle_timeout: idle_timeout?,
        client_body_timeout: client_body_timeout?,
        send_timeout: send_timeout?,
        max_connections: u32::try_from(max_connections?).ok()?,
    })
}

fn at_least_watched(
    field: &Field<String>,
    key: &str,
    value: Option<Duration>,
    report: &mut Report<'_>,
) -> Option<Duration> {
    let value = value?;
    if value >= MIN_WATCHED_TIMEOUT {
        return Some(value);
    }
    if let Some(text) = field {
        report.error(text.span().start, format!("`{key}` must be at least 100ms"));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    use lifeline_model::ProxySettings;

    use crate::parse;

    /// Something to run, so that a file is valid.
    const POOL: &str =
        "[[pool]]\nname = \"p\"\norigins = [{ name = \"a\", address = \"127.0.0.1:1\" }]\n";

    #[test]
    fn limits_have_defaults_and_can_be_set() {
        let env = HashMap::new();
        let loaded = parse(Path::new("lifeline.toml"), POOL, &env).unwrap();
        assert_eq!(loaded.topology.proxy, ProxySettings::default());

        let text = format!(
            "[proxy]\nidle_timeout = \"3s\"\nclient_body_timeout = \"20s\"\nsend_timeout = \"1m\"\nmax_connections = 50\n{POOL}"
        );
        let loaded = parse(Path::new("lifeline.toml"), &text, &env).unwrap();
        assert_eq!(
            loaded.topology.proxy,
            ProxySettings {
                idle_timeout: Duration::from_secs(3),
                client_body_timeout: Duration::from_secs(20),
                send_timeout: Duration::from_secs(60),
                max_connections: 50,
            }
        );
    }

    #[test]
    fn impossible_limits_are_reported_together() {
        let text = format!(
            "[proxy]\nidle_timeout = \"0s\"\nclient_body_timeout = \"slow\"\nmax_connections = 0\nsend_timeout = \"5ns\"\n{POOL}"
        );
        let diagnostics = parse(Path::new("lifeline.toml"), &text, &HashMap::new()).unwrap_err();
        let found: Vec<(usize, String)> = diagnostics
            .into_iter()
            .map(|d| (d.line, d.message))
            .collect();
        assert_eq!(
            found,
            [
                (2, "`idle_timeout` must be longer than zero".to_string()),
                (
                    3,
                    "`client_body_timeout`: `slow` is not a duration like \"500ms\", \"5s\" or \"1m\""
                        .to_string()
                ),
                (4, "`max_connections` must be at least 1, not 0".to_string()),
                (5, "`send_timeout` must be at least 100ms".to_string()),
            ]
        );
    }

    #[test]
    fn a_duration_beyond_the_clock_is_refused() {
        let text = format!("[proxy]\nclient_body_timeout = \"300000000000y\"\n{POOL}");
        let diagnostics = parse(Path::new("lifeline.toml"), &text, &HashMap::new()).unwrap_err();
        let found: Vec<(usize, usize, String)> = diagnostics
            .into_iter()
            .map(|d| (d.line, d.col, d.message))
            .collect();
        assert_eq!(
            found,
            [(
                2,
                23,
                "`client_body_timeout` must be at most 365 days".to_string()
            )]
        );
    }
}
