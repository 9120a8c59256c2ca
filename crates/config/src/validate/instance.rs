//! `[instance]`: this machine's name among the instances sharing a store, by default its host
//! name.

use lifeline_model::{InstanceName, InstanceSettings};

use super::fields;
use crate::diagnostics::Report;
use crate::raw::{Field, RawInstance};

/// Checks `[instance]`; without a `name`, the host name is the name.
pub(super) fn settings(
    raw: &Field<RawInstance>,
    report: &mut Report<'_>,
) -> Option<InstanceSettings> {
    let Some(name) = raw.as_ref().and_then(|raw| raw.get_ref().name.as_ref()) else {
        return from_host_name(report);
    };
    let at = name.span().start;
    if name.get_ref().is_empty() {
        report.error(at, "`name` must not be empty");
        return None;
    }
    if let Some(message) = fields::control_character(name.get_ref(), "`name`") {
        report.error(at, message);
        return None;
    }
    Some(InstanceSettings {
        name: InstanceName::new(name.get_ref().as_str()),
    })
}

fn from_host_name(report: &mut Report<'_>) -> Option<InstanceSettings> {
    let host = host_name();
    let usable = !host.is_empty() && fields::control_character(&host, "").is_none();
    if !usable {
        report.error(
            0,
            "this machine's host name cannot name the instance; set `[instance] name`",
        );
        return None;
    }
    Some(InstanceSettings {
        name: InstanceName::new(host.as_str()),
    })
}

/// The kernel's host name (Linux), or an empty string when it cannot be read.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_default()
}
