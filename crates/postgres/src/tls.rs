//! TLS for Lifeline's own connections to the nodes, with rustls, as libpq reads a connection
//! string's `sslmode` and `sslrootcert`:
//!
//! - `disable`: plain; `prefer` (the default): TLS when the server offers it; `require`,
//!   `verify-ca`, `verify-full`: TLS or no connection.
//! - The server's certificate is checked against `sslrootcert` for `verify-ca` (the chain only),
//!   `verify-full` (the chain and the host connected to), and `prefer` or `require` when an
//!   `sslrootcert` is given (libpq checks the chain whenever it has a root certificate file).
//!   Otherwise any certificate is taken, as libpq does, but the handshake still proves that the
//!   server holds the key of the certificate it shows.
//!
//! `sslrootcert` is read at every connect, as libpq reads it, so a replaced CA file is used from
//! the next connection on. No channel binding is offered (SCRAM without `-PLUS`), so
//! `channel_binding=require` fails with the driver's error.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use lifeline_model::{CertCheck, PgDsn, SslMode};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::Socket;
use tokio_postgres::config::SslMode as DriverSslMode;
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// Makes the TLS connector of one connection (tokio-postgres asks for it with the host name).
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
    /// Said in every handshake error, so that a certificate problem names its settings.
    context: Arc<str>,
}

/// The connector for one host.
pub(crate) struct RustlsConnect {
    make: MakeRustls,
    name: ServerName<'static>,
}

/// A TLS session over the node's socket.
pub(crate) struct RustlsStream(tokio_rustls::client::TlsStream<Socket>);

/// How the driver negotiates: it knows `disable`, `prefer` and `require`, and the verifying
/// modes are `require` to it (the checks are the connector's).
pub(crate) fn driver_mode(mode: SslMode) -> DriverSslMode {
    match mode {
        SslMode::Disable => DriverSslMode::Disable,
        SslMode::Prefer => DriverSslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => DriverSslMode::Require,
    }
}

// === impl MakeRustls ===

impl MakeRustls {
    /// The connector for `dsn`, reading its `sslrootcert` now. `Err` says what is wrong with
    /// the file.
    pub(crate) fn for_dsn(dsn: &PgDsn) -> Result<Self, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let check = dsn.cert_check();
        let verifier: Arc<dyn ServerCertVerifier> = match (check, &dsn.sslrootcert) {
            (CertCheck::None, _) | (_, None) => Arc::new(AnyCertificate(provider.clone())),
            (check, Some(path)) => {
                let roots = Arc::new(root_store(path)?);
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                    .build()
                    .map_err(|error| format!("sslrootcert {path}: {error}"))?;
                Arc::new(CaVerifier {
                    webpki,
                    check_host: check == CertCheck::ChainAndHost,
                })
            }
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| format!("TLS: {error}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let context = match &dsn.sslrootcert {
            Some(path) => format!("sslmode={}, sslrootcert={path}", dsn.ssl_mode()),
            None => format!("sslmode={}", dsn.ssl_mode()),
        };
        Ok(Self {
            config: Arc::new(config),
            context: context.into(),
        })
    }
}

/// The CA certificates of the PEM file at `path`.
fn root_store(path: &str) -> Result<RootCertStore, String> {
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect())
        .map_err(|error| format!("sslrootcert {path}: {error}"))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!(
            "sslrootcert {path}: holds no usable CA certificate"
        ));
    }
    Ok(roots)
}

impl MakeTlsConnect<Socket> for MakeRustls {
    type Stream = RustlsStream;
    type TlsConnect = RustlsConnect;
    type Error = io::Error;

    fn make_tls_connect(&mut self, host: &str) -> io::Result<RustlsConnect> {
        let name = ServerName::try_from(host.to_string()).map_err(|error| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("host `{host}` cannot be checked against a certificate: {error}"),
            )
        })?;
        Ok(RustlsConnect {
            make: self.clone(),
            name,
        })
    }
}

// === impl RustlsConnect ===

impl TlsConnect<Socket> for RustlsConnect {
    type Stream = RustlsStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream>> + Send>>;

    fn connect(self, socket: Socket) -> Self::Future {
        Box::pin(async move {
            let connector = tokio_rustls::TlsConnector::from(self.make.config);
            match connector.connect(self.name, socket).await {
                Ok(stream) => Ok(RustlsStream(stream)),
                Err(error) => Err(io::Error::new(
                    error.kind(),
                    format!("{} ({})", explain(&error), self.make.context),
                )),
            }
        })
    }
}

/// A handshake error in words: rustls's own, with what an unknown issuer means here.
fn explain(error: &io::Error) -> String {
    let rustls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            "the server's certificate is not signed by a CA of sslrootcert".to_string()
        }
        Some(rustls) => rustls.to_string(),
        None => error.to_string(),
    }
}

// === impl RustlsStream ===

impl TlsStream for RustlsStream {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl AsyncRead for RustlsStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for RustlsStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// `require` or `prefer` without `sslrootcert`: any certificate, but the handshake signatures
/// are still checked, so the server holds the key of the certificate it shows.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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

/// The chain to a CA of `sslrootcert`, and the host name too for `verify-full`. webpki checks
/// the chain before the name, so a name error means the chain was good: `verify-ca` takes it.
#[derive(Debug)]
struct CaVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    check_host: bool,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_host => Ok(ServerCertVerified::assertion()),
            verified => verified,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
