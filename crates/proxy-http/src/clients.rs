//! The connections towards origins: plain HTTP/1.1 through our own keep-alive pools
//! ([`origin_pool`](crate::origin_pool), [`h1`](crate::h1)), HTTPS (HTTP/2 or HTTP/1.1 by ALPN)
//! through hyper-util's pooled client, verified against the system's roots, or accepting any
//! certificate for pools with `allow_insecure`.
//!
//! Connections are kept alive and reused (idle ones closed after 30 s), with `TCP_NODELAY` set.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use lifeline_model::OriginProtocol;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::body::OutBody;
use crate::compiled::OriginHandles;
use crate::error::ErrorKind;
use crate::origin_pool::{IDLE_TIMEOUT, OriginPools};

/// TCP keep-alive probes on origin connections, to notice peers that vanished.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

pub(crate) struct Clients {
    pub(crate) pools: Arc<OriginPools>,
    https: Client<HttpsConnector<HttpConnector>, OutBody>,
    insecure: Client<HttpsConnector<HttpConnector>, OutBody>,
}

// === impl Clients ===

impl Clients {
    /// Must be called inside a Tokio runtime (see [`OriginPools::new`]).
    pub(crate) fn new() -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verified = tls_config(&provider, |builder| {
            match builder.clone().with_native_roots() {
                Ok(builder) => builder.with_no_client_auth(),
                Err(err) => {
                    tracing::warn!(error = %err, "no system root certificates: https origins will fail verification");
                    builder
                        .with_root_certificates(RootCertStore::empty())
                        .with_no_client_auth()
                }
            }
        });
        let insecure = tls_config(&provider, |builder| {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(Arc::clone(
                    &provider,
                ))))
                .with_no_client_auth()
        });
        Self {
            pools: OriginPools::new(connector()),
            https: client(https_connector(verified)),
            insecure: client(https_connector(insecure)),
        }
    }

    /// Sends `request` (its URI absolute) to the HTTPS origin of `handles`.
    pub(crate) async fn send_https(
        &self,
        handles: &OriginHandles,
        protocol: &OriginProtocol,
        request: Request<OutBody>,
    ) -> Result<Response<Incoming>, ErrorKind> {
        let client = match protocol {
            OriginProtocol::Https {
                allow_insecure: true,
            } => &self.insecure,
            OriginProtocol::Http | OriginProtocol::Https { .. } => &self.https,
        };
        client.request(request).await.map_err(|err| {
            tracing::debug!(authority = %handles.authority, error = ?err, "attempt failed");
            ErrorKind::of_client_error(&err)
        })
    }
}

type WantsVerifier = rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>;

fn tls_config(
    provider: &Arc<CryptoProvider>,
    finish: impl FnOnce(WantsVerifier) -> ClientConfig,
) -> ClientConfig {
    let builder = ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports rustls' default protocol versions");
    finish(builder)
}

fn connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_keepalive(Some(TCP_KEEPALIVE));
    connector
}

fn https_connector(config: ClientConfig) -> HttpsConnector<HttpConnector> {
    let mut http = connector();
    http.enforce_http(false);
    HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_all_versions()
        .wrap_connector(http)
}

fn client<C>(connector: C) -> Client<C, OutBody>
where
    C: hyper_util::client::legacy::connect::Connect + Clone,
{
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .build(connector)
}

/// For `allow_insecure`: any certificate is accepted, but the handshake signatures are still
/// checked, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
