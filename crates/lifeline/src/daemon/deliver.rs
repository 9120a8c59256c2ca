//! Delivery of the outbox: on the leader, each receiver's notifications in order, each taken
//! out of the store only once its receiver took it (a 2xx answer, or a command's exit 0), so
//! every one is delivered at least once. A receiver that fails is tried again with back-off
//! (0.5 s doubling to 30 s) while the others go on.

use std::collections::HashMap;
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use lifeline_control::alerts::{Notification, RESEND_EVERY, outbox};
use lifeline_model::{Receiver, ReceiverKind, ReceiverName, Timestamp, Topology};
use lifeline_store::{Role, StateStore, leading_token};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

/// How often the outbox is looked at without being woken (after a restart or a change of
/// leader, and for retries).
const POLL: Duration = Duration::from_millis(500);
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(30);
/// What of a failing command's output goes into the log line.
const OUTPUT_SHOWN: usize = 300;

pub struct DeliveryInputs {
    pub topology: Arc<ArcSwap<Topology>>,
    pub store: Arc<dyn StateStore>,
    pub role: Role,
    pub enqueued: Arc<Notify>,
}

/// A receiver that failed: when to try again, and the wait after that.
struct Backoff {
    next: Instant,
    wait: Duration,
}

/// Delivers until `shutdown` resolves.
pub async fn run(inputs: DeliveryInputs, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default();
    let mut failing: HashMap<ReceiverName, Backoff> = HashMap::new();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = inputs.enqueued.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        if leading_token(&inputs.role).is_none() {
            continue;
        }
        let topology = inputs.topology.load_full();
        let external_url = format!("http://{}", topology.admin.listen);
        for receiver in &topology.receivers {
            if failing
                .get(&receiver.name)
                .is_some_and(|b| b.next > Instant::now())
            {
                continue;
            }
            let pending = match outbox::pending(inputs.store.as_ref(), receiver.name.as_str()).await
            {
                Ok(pending) => pending,
                Err(error) => {
                    tracing::warn!(%error, "notify: cannot read the outbox");
                    break;
                }
            };
            for entry in pending {
                match deliver(&http, receiver, &entry.notification, &external_url).await {
                    Ok(()) => {
                        failing.remove(&receiver.name);
                        let waited = Timestamp::now().since(entry.notification.created_at);
                        tracing::info!(receiver = %receiver.name, alerts = entry.notification.notices.len(), waited_ms = waited.as_millis() as u64, "notify: delivered");
                        if let Err(error) = outbox::remove(inputs.store.as_ref(), &entry).await {
                            tracing::warn!(%error, receiver = %receiver.name, "notify: delivered, but cannot take it out of the outbox (it may be delivered again)");
                        }
                    }
                    Err(why) => {
                        let wait = failing
                            .get(&receiver.name)
                            .map_or(FIRST_RETRY, |b| (b.wait * 2).min(LAST_RETRY));
                        tracing::warn!(receiver = %receiver.name, %why, retry_in_ms = wait.as_millis() as u64, "notify: not delivered");
                        failing.insert(
                            receiver.name.clone(),
                            Backoff {
                                next: Instant::now() + wait,
                                wait,
                            },
                        );
                        break;
                    }
                }
            }
        }
    }
}

/// One delivery; `Err` says why it failed, without the URL (it may hold credentials).
async fn deliver(
    http: &reqwest::Client,
    receiver: &Receiver,
    notification: &Notification,
    external_url: &str,
) -> Result<(), String> {
    let (url, body) = match &receiver.kind {
        ReceiverKind::Webhook { url } => (url.clone(), notification.webhook_body(external_url)),
        ReceiverKind::Alertmanager { url } => (
            format!("{url}/api/v2/alerts"),
            notification.alertmanager_body(external_url, Timestamp::now(), RESEND_EVERY * 4),
        ),
        ReceiverKind::Command { program, args } => {
            return run_command(
                program,
                args,
                &notification.webhook_body(external_url),
                receiver.timeout,
            )
            .await;
        }
    };
    let response = http
        .post(url)
        .timeout(receiver.timeout)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!("answered {status}: {}", trimmed(&text)))
}

/// Runs the command with the webhook body on its standard input.
async fn run_command(
    program: &std::path::Path,
    args: &[String],
    body: &serde_json::Value,
    timeout: Duration,
) -> Result<(), String> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = serde_json::to_vec(body).expect("a body serializes");
    let run = async {
        // A command that does not read its input is its own business.
        let _ = stdin.write_all(&input).await;
        drop(stdin);
        child.wait_with_output().await
    };
    match tokio::time::timeout(timeout, run).await {
        Err(_) => Err(format!(
            "{} did not finish within {timeout:?}",
            program.display()
        )),
        Ok(Err(error)) => Err(format!("{}: {error}", program.display())),
        Ok(Ok(output)) if output.status.success() => Ok(()),
        Ok(Ok(output)) => Err(format!(
            "{} exited with {}: {}",
            program.display(),
            output.status,
            trimmed(&String::from_utf8_lossy(&output.stderr))
        )),
    }
}

fn trimmed(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(OUTPUT_SHOWN) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}
