//! Turning `[store]` settings into a connected etcd client, within a deadline.
//!
//! etcd-client connects lazily, so a connect that "succeeds" proves nothing: the first read
//! here is what tells a reachable etcd from a wrong address, and it is bounded so that an
//! unreachable etcd at start is a clear error naming the endpoints, never a hang.

use std::path::Path;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};
use lifeline_model::EtcdSettings;

use crate::error::StoreError;

/// How long one call (and the connect at start) may take: the lease TTL, within 1 to 10 s. A
/// call slower than the lease could not have kept leadership anyway.
pub(super) fn call_timeout(lease_ttl: Duration) -> Duration {
    lease_ttl.clamp(Duration::from_secs(1), Duration::from_secs(10))
}

/// Connects and proves it with one linearizable read of `probe_key`.
pub(super) async fn connect(
    settings: &EtcdSettings,
    probe_key: &str,
) -> Result<Client, StoreError> {
    let timeout = call_timeout(settings.lease_ttl);
    let endpoints = settings.endpoints.join(", ");
    let unreachable = |cause: String| StoreError::Unreachable {
        endpoints: endpoints.clone(),
        timeout,
        cause: redact(cause, settings),
    };
    let options = options(settings, timeout)?;
    let attempt = async {
        let mut client = Client::connect(&settings.endpoints, Some(options)).await?;
        let probe = GetOptions::new().with_count_only();
        client.get(probe_key, Some(probe)).await?;
        Ok::<_, etcd_client::Error>(client)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(error)) => Err(unreachable(error.to_string())),
        Err(_) => Err(unreachable("no answer".to_owned())),
    }
}

fn options(settings: &EtcdSettings, timeout: Duration) -> Result<ConnectOptions, StoreError> {
    // HTTP/2 pings find a dead connection (etcd killed or stopped) within about a lease TTL,
    // which ends the keep-alive and watch streams so they can be opened again.
    let mut options = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_keep_alive(Duration::from_secs(1), timeout)
        .with_keep_alive_while_idle(true);
    if let Some(username) = &settings.username {
        let password = settings.password.as_ref().map_or("", |p| p.expose());
        options = options.with_user(username.clone(), password);
    }
    if let Some(tls) = tls(settings)? {
        options = options.with_tls(tls);
    }
    Ok(options)
}

/// TLS options when an endpoint is `https://` or a CA or a client certificate is configured.
/// Servers are checked against `ca_file` alone when it is set, against the system's roots
/// (`/etc/ssl/certs`, or `SSL_CERT_FILE`) otherwise.
fn tls(settings: &EtcdSettings) -> Result<Option<TlsOptions>, StoreError> {
    let mut tls = TlsOptions::new();
    let mut any = settings
        .endpoints
        .iter()
        .any(|endpoint| endpoint.starts_with("https://"));
    if let Some(ca) = &settings.ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read(ca, "ca_file")?));
        any = true;
    } else {
        tls = tls.with_native_roots();
    }
    match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => {
            let identity = Identity::from_pem(read(cert, "cert_file")?, read(key, "key_file")?);
            tls = tls.identity(identity);
            any = true;
        }
        (None, None) => {}
        _ => {
            return Err(StoreError::Settings {
                message: "cert_file and key_file go together: set both or neither".to_owned(),
            });
        }
    }
    Ok(any.then_some(tls))
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|error| StoreError::Settings {
        message: format!("cannot read {field} {}: {error}", path.display()),
    })
}

/// Keeps the password out of an error message, whatever a library put in it.
fn redact(message: String, settings: &EtcdSettings) -> String {
    match settings.password.as_ref().map(|p| p.expose()) {
        Some(password) if !password.is_empty() && message.contains(password) => {
            message.replace(password, "<redacted>")
        }
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use lifeline_model::{EtcdSettings, HealthQuorum, Secret};

    use super::{call_timeout, redact};

    #[test]
    fn the_call_timeout_follows_the_lease_within_bounds() {
        assert_eq!(call_timeout(Duration::from_secs(3)), Duration::from_secs(3));
        assert_eq!(
            call_timeout(Duration::from_millis(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            call_timeout(Duration::from_secs(60)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn a_password_never_stays_in_a_message() {
        let settings = EtcdSettings {
            endpoints: vec!["http://127.0.0.1:1".to_owned()],
            prefix: "/x".to_owned(),
            lease_ttl: Duration::from_secs(3),
            username: Some("lifeline".to_owned()),
            password: Some(Secret::new("hunter2")),
            ca_file: None,
            cert_file: None,
            key_file: None,
            health_quorum: HealthQuorum::Majority,
        };
        let message = redact("auth failed for hunter2".to_owned(), &settings);
        assert_eq!(message, "auth failed for <redacted>");
    }
}
