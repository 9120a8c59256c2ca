//! One bounded round trip to etcd, and how its failures become backend-neutral errors.
//!
//! etcd-client waits as long as the connection lets it, so every call here has a deadline: an
//! etcd that is down, stopped or without a leader is `Unavailable` after it, never a hang.

use std::future::Future;
use std::time::Duration;

use crate::error::StoreError;

/// Runs one etcd call, failing with [`StoreError::Unavailable`] after `timeout`.
pub(super) async fn bounded<T>(
    operation: &'static str,
    timeout: Duration,
    call: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(timeout, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(StoreError::Unavailable {
            operation,
            cause: error.to_string(),
        }),
        Err(_) => Err(StoreError::Unavailable {
            operation,
            cause: format!("no answer within {timeout:?}"),
        }),
    }
}

/// An etcd integer (revisions, lease ids are `i64`) as a store version.
pub(super) fn version(revision: i64) -> u64 {
    u64::try_from(revision).unwrap_or(0)
}

/// A store version as an etcd revision; versions come from etcd, so they fit.
pub(super) fn revision(version: u64) -> i64 {
    i64::try_from(version).unwrap_or(i64::MAX)
}

/// The revision an etcd response was applied at.
pub(super) fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> u64 {
    header.map_or(0, |header| version(header.revision()))
}
