//! `[proxy]`: the limits on the load balancers' clients.

use lifeline_model::ProxySettings;

use super::fields;
use crate::diagnostics::Report;
use crate::raw::RawProxy;

/// Connections one listener may serve at once, at most: beyond that a per-listener limit no
/// longer protects anything a file descriptor limit would not.
const MAX_CONNECTIONS: i64 = 1_000_000;

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
    Some(ProxySettings {
        idle_timeout: idle_timeout?,
        client_body_timeout: client_body_timeout?,
        send_timeout: send_timeout?,
        max_connections: u32::try_from(max_connections?).ok()?,
    })
}
