//! Certificates for tests: a self-signed CA made in the test, and server certificates it signs.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A certificate authority that exists only for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct CertifiedKey {
    pub certificate_pem: String,
    pub key_pem: String,
}

impl TestCa {
    /// A new CA whose certificate's common name is `name`.
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("a CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("a self-signed CA");
        TestCa { issuer }
    }

    /// The CA's certificate, PEM.
    pub fn certificate_pem(&self) -> String {
        self.issuer.pem()
    }

    /// Writes the CA's certificate to `dir/file` (for `sslrootcert`) and returns the path.
    pub fn write_certificate(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        fs::write(&path, self.certificate_pem())
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// A server certificate for `names` (host names or IP addresses, as subject alternative
    /// names), signed by this CA.
    pub fn server(&self, names: &[&str]) -> CertifiedKey {
        let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("server certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, "lifeline test server");
        let key = KeyPair::generate().expect("a server key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("a certificate signed by the test CA");
        CertifiedKey {
            certificate_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}
