//! How Lifeline reaches one Redis node: its address, and the cluster's credentials and TLS,
//! which every node of a Redis cluster shares (as `masterauth` does for its replicas).

use std::fmt;
use std::path::PathBuf;

use crate::secret::Secret;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisNode {
    pub host: String,
    pub port: u16,
    /// The ACL user (`AUTH username password`); `None`: `AUTH password`, the default user.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// TLS to the node (Redis's `tls-port`); `None`: plain TCP.
    pub tls: Option<RedisTls>,
}

/// TLS to a Redis node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisTls {
    /// The CA certificates (PEM) the node's certificate must chain to; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// Take any certificate (encrypted, not authenticated).
    pub allow_insecure: bool,
}

// === impl RedisNode ===

impl RedisNode {
    /// `host:port`.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `redis://user:***@host:port` (`rediss://` with TLS): never the password.
impl fmt::Display for RedisNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        let user = self.username.as_deref().unwrap_or("");
        match &self.password {
            Some(_) => write!(f, "{scheme}://{user}:***@{}", self.address()),
            None if !user.is_empty() => write!(f, "{scheme}://{user}@{}", self.address()),
            None => write!(f, "{scheme}://{}", self.address()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_no_password() {
        let mut node = RedisNode {
            host: "10.0.0.1".into(),
            port: 6379,
            username: Some("lifeline".into()),
            password: Some(Secret::new("hunter2")),
            tls: None,
        };
        assert_eq!(node.to_string(), "redis://lifeline:***@10.0.0.1:6379");
        node.username = None;
        node.tls = Some(RedisTls {
            ca_file: None,
            allow_insecure: false,
        });
        assert_eq!(node.to_string(), "rediss://:***@10.0.0.1:6379");
        node.password = None;
        node.host = "::1".into();
        assert_eq!(node.to_string(), "rediss://[::1]:6379");
    }
}
