//! One HTTP client for the harness, with the rustls provider the workspace uses installed first.

use std::sync::OnceLock;

/// A shared client (keep-alive pool, no proxy).
pub fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        // Err only means another part of this process installed it already.
        if rustls::crypto::ring::default_provider()
            .install_default()
            .is_err()
        {
            assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        }
        reqwest::Client::builder()
            .no_proxy()
            // Daemons and origins restart on the same port: never reuse a connection to a dead one.
            .pool_max_idle_per_host(0)
            .build()
            .expect("cannot build the test HTTP client")
    })
}
