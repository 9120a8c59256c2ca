//! `[[notify]]`: a receiver of alerts: a webhook or an Alertmanager at an `http(s)` URL, or a
//! command; the alerts it takes must be Lifeline's.

use std::path::PathBuf;
use std::time::Duration;

use lifeline_model::{AlertName, Receiver, ReceiverKind, ReceiverName};
use toml::Spanned;

use super::fields::{self, Names};
use crate::diagnostics::Report;
use crate::raw::RawNotify;

const SECTION: &str = "[[notify]]";
/// Long enough that the changes of one failover (a pool down, its load balancer failing over,
/// a level) go out together; short against a person's reaction.
const DEFAULT_GROUP_WAIT: Duration = Duration::from_millis(500);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn receivers(
    raw: &[Spanned<RawNotify>],
    report: &mut Report<'_>,
) -> Option<Vec<Receiver>> {
    let mut names = Names::new("notify");
    let checked: Vec<Option<Receiver>> = raw
        .iter()
        .map(|notify| receiver(notify, &mut names, report))
        .collect();
    checked.into_iter().collect()
}

fn receiver(
    spanned: &Spanned<RawNotify>,
    names: &mut Names,
    report: &mut Report<'_>,
) -> Option<Receiver> {
    let at = spanned.span().start;
    let raw = spanned.get_ref();
    let name = fields::name(&raw.name, SECTION, at, report);
    if let Some(name) = name {
        names.claim(name, report);
    }
    let kind = kind(raw, at, report);
    let alerts = alerts(raw, report);
    let group_wait =
        fields::duration_or_zero(&raw.group_wait, "group_wait", DEFAULT_GROUP_WAIT, report);
    let timeout = fields::duration(&raw.timeout, "timeout", DEFAULT_TIMEOUT, report);
    Some(Receiver {
        name: ReceiverName::new(name?.get_ref().as_str()),
        kind: kind?,
        alerts: alerts?,
        group_wait: group_wait?,
        timeout: timeout?,
    })
}

/// `kind` with what it needs: `url` for a webhook or an Alertmanager, `run` for a command.
fn kind(raw: &RawNotify, at: usize, report: &mut Report<'_>) -> Option<ReceiverKind> {
    let kind = fields::required(&raw.kind, "kind", SECTION, at, report)?;
    let kind_at = kind.span().start;
    match kind.get_ref().as_str() {
        "webhook" | "alertmanager" => {
            if let Some(run) = &raw.run {
                report.error(
                    run.span().start,
                    "`run` is for `kind = \"command\"`; a webhook or an Alertmanager takes `url`",
                );
                return None;
            }
            let url = fields::required(&raw.url, "url", SECTION, at, report)?;
            let text = url.get_ref().trim_end_matches('/');
            if !(text.starts_with("http://") || text.starts_with("https://"))
                || text.len() <= "https://".len()
            {
                report.error(
                    url.span().start,
                    format!("`url` must be an http:// or https:// URL, not `{text}`"),
                );
                return None;
            }
            if let Some(message) = fields::control_character(text, "`url`") {
                report.error(url.span().start, message);
                return None;
            }
            let url = text.to_string();
            Some(if kind.get_ref() == "webhook" {
                ReceiverKind::Webhook { url }
            } else {
                ReceiverKind::Alertmanager { url }
            })
        }
        "command" => {
            if let Some(url) = &raw.url {
                report.error(
                    url.span().start,
                    "`url` is for a webhook or an Alertmanager; a command takes `run`",
                );
                return None;
            }
            let run = fields::required(&raw.run, "run", SECTION, at, report)?;
            let Some((program, args)) = run.get_ref().split_first() else {
                report.error(
                    run.span().start,
                    "`run` must name a program: [\"program\", \"arg\", ...]",
                );
                return None;
            };
            if program.get_ref().is_empty() {
                report.error(program.span().start, "`run`'s program must not be empty");
                return None;
            }
            Some(ReceiverKind::Command {
                program: PathBuf::from(program.get_ref()),
                args: args.iter().map(|a| a.get_ref().clone()).collect(),
            })
        }
        other => {
            report.error(kind_at, format!("unknown `kind` `{other}` (expected \"webhook\", \"alertmanager\" or \"command\")"));
            None
        }
    }
}

/// `alerts` (default: every alert), each one of Lifeline's.
fn alerts(raw: &RawNotify, report: &mut Report<'_>) -> Option<Vec<AlertName>> {
    let Some(list) = &raw.alerts else {
        return Some(AlertName::ALL.to_vec());
    };
    let mut alerts = Vec::new();
    let mut ok = true;
    for name in list.get_ref() {
        match AlertName::parse(name.get_ref()) {
            Some(alert) if !alerts.contains(&alert) => alerts.push(alert),
            Some(_) => {}
            None => {
                let known: Vec<&str> = AlertName::ALL.iter().map(|a| a.as_str()).collect();
                report.error(
                    name.span().start,
                    format!(
                        "unknown alert `{}` (expected one of {})",
                        name.get_ref(),
                        known.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    ok.then_some(alerts)
}
