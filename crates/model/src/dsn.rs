//! A node's libpq connection string: parsed with the byte range of every problem, so that a
//! caller can tell whether the part at fault may be a password before it shows any of it.
//!
//! Only keys that both Lifeline's client and a standby's `primary_conninfo` (libpq) understand,
//! and that make sense for one node, are accepted: a word that libpq would reject, or ignore,
//! is refused here rather than at the first connection.

use std::fmt;
use std::ops::Range;

use crate::secret::Secret;

/// The keys a connection string may hold.
pub const DSN_KEYS: [&str; 15] = [
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "sslmode",
    "sslrootcert",
    "connect_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "tcp_user_timeout",
    "channel_binding",
    "options",
];

/// A libpq-style connection string, `key=value` pairs, with the password kept secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgDsn {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<Secret>,
    pub dbname: String,
    /// `sslmode`; `None` when not given, which libpq reads as [`SslMode::Prefer`].
    pub sslmode: Option<SslMode>,
    /// `sslrootcert`: the CA certificates (PEM) a server's certificate must chain to. An
    /// absolute path, as the same string reaches standbys in `primary_conninfo`.
    pub sslrootcert: Option<String>,
    /// The other keys of [`DSN_KEYS`] (`connect_timeout`, `keepalives`, ...), in order.
    pub options: Vec<(String, String)>,
}

/// libpq's `sslmode`, less `allow` (plain first, TLS if refused), which no client of a failover
/// manager should want.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is checked only when
    /// `sslrootcert` is given (as libpq does when it finds a root certificate file).
    Prefer,
    /// TLS or no connection; the certificate is checked only when `sslrootcert` is given.
    Require,
    /// TLS, and the server's certificate chains to `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the `host` connected to.
    VerifyFull,
}

/// How a connection checks the server's certificate, from `sslmode` and `sslrootcert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertCheck {
    /// Encrypted, but anyone's certificate is taken.
    None,
    /// The chain must reach a CA of `sslrootcert`.
    Chain,
    /// The chain, and the host name (or IP address) in the certificate.
    ChainAndHost,
}

/// Why a connection string was refused, and where. Its `Display` quotes nothing of the text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DsnError {
    pub problem: DsnProblem,
    /// Byte range of the key concerned (the word itself for [`DsnProblem::NoValue`]); empty
    /// when there is none.
    pub key: Range<usize>,
    /// Byte range of the value concerned; empty when there is none.
    pub value: Range<usize>,
    /// Where the first `password` value starts, if there is one: anything from there on may be
    /// part of a password, as an unquoted password with spaces splits into words.
    pub password_at: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DsnProblem {
    /// A word without `=value`.
    NoValue,
    /// A `=` with no key before it.
    NoKey,
    /// A quoted value without its closing quote.
    UnclosedQuote,
    /// A key that is not one of [`DSN_KEYS`].
    UnknownKey,
    /// A `port` that is not a port number.
    BadPort,
    /// An `sslmode` that is not one of [`SslMode`]'s.
    BadSslMode,
    /// `sslmode=verify-ca` or `verify-full` without `sslrootcert`.
    NoRootCert,
    /// An `sslrootcert` that is not an absolute path.
    RelativeRootCert,
    NoHost,
    NoUser,
}

/// One `key=value` pair: the key's byte range, the value (unquoted), the value's byte range.
type Pair = (Range<usize>, String, Range<usize>);

// === impl PgDsn ===

impl PgDsn {
    /// Parses `host=... port=... user=... password=... dbname=...` (values may be single-quoted
    /// with `\'` and `\\` escapes, as libpq allows).
    pub fn parse(text: &str) -> Result<Self, DsnError> {
        let mut dsn = PgDsn {
            host: String::new(),
            port: 5432,
            user: String::new(),
            password: None,
            dbname: "postgres".to_string(),
            sslmode: None,
            sslrootcert: None,
            options: Vec::new(),
        };
        let (pairs, password_at) = conninfo_pairs(text)?;
        let error = |problem, key: Range<usize>, value: Range<usize>| DsnError {
            problem,
            key,
            value,
            password_at,
        };
        for (key, value, span) in pairs {
            match &text[key.clone()] {
                "host" | "hostaddr" => dsn.host = value,
                "port" => {
                    dsn.port = value
                        .parse()
                        .ok()
                        .filter(|p| *p != 0)
                        .ok_or_else(|| error(DsnProblem::BadPort, key, span))?;
                }
                "user" => dsn.user = value,
                "password" => dsn.password = Some(Secret::new(value)),
                "dbname" => dsn.dbname = value,
                "sslmode" => {
                    let mode = SslMode::parse(&value)
                        .ok_or_else(|| error(DsnProblem::BadSslMode, key, span))?;
                    dsn.sslmode = Some(mode);
                }
                "sslrootcert" => {
                    if !value.starts_with('/') {
                        return Err(error(DsnProblem::RelativeRootCert, key, span));
                    }
                    dsn.sslrootcert = Some(value);
                }
                name if DSN_KEYS.contains(&name) => dsn.options.push((name.to_string(), value)),
                "" => return Err(error(DsnProblem::NoKey, key, span)),
                _ => return Err(error(DsnProblem::UnknownKey, key, span)),
            }
        }
        let end = text.len()..text.len();
        if dsn.host.is_empty() {
            return Err(error(DsnProblem::NoHost, end.clone(), end));
        }
        if dsn.user.is_empty() {
            return Err(error(DsnProblem::NoUser, end.clone(), end));
        }
        if dsn.sslrootcert.is_none() && dsn.cert_check() != CertCheck::None {
            return Err(error(DsnProblem::NoRootCert, end.clone(), end));
        }
        Ok(dsn)
    }

    /// `sslmode`, or libpq's default.
    pub fn ssl_mode(&self) -> SslMode {
        self.sslmode.unwrap_or(SslMode::Prefer)
    }

    /// How the server's certificate is checked, as libpq does it: `verify-full` checks the
    /// host, `verify-ca` the chain, and `prefer` or `require` the chain too when `sslrootcert`
    /// is given (libpq's behaviour when a root certificate file exists).
    pub fn cert_check(&self) -> CertCheck {
        match (self.ssl_mode(), &self.sslrootcert) {
            (SslMode::VerifyFull, _) => CertCheck::ChainAndHost,
            (SslMode::VerifyCa, _) => CertCheck::Chain,
            (SslMode::Disable, _) | (_, None) => CertCheck::None,
            (SslMode::Prefer | SslMode::Require, Some(_)) => CertCheck::Chain,
        }
    }

    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The full connection string, password included: only for a connection or for
    /// `primary_conninfo`, never for a log line (use `Display`, which hides the password).
    pub fn conninfo_with_secret(&self) -> String {
        self.render(true, true)
    }

    /// [`conninfo_with_secret`](Self::conninfo_with_secret) without `sslmode` and
    /// `sslrootcert`, for a driver that is given its TLS settings apart.
    pub fn conninfo_without_tls(&self) -> String {
        self.render(true, false)
    }

    fn render(&self, with_password: bool, with_tls: bool) -> String {
        let mut pairs = vec![
            ("host", self.host.clone()),
            ("port", self.port.to_string()),
            ("user", self.user.clone()),
        ];
        match (&self.password, with_password) {
            (Some(password), true) => pairs.push(("password", password.expose().to_string())),
            (Some(_), false) => pairs.push(("password", "***".to_string())),
            (None, _) => {}
        }
        pairs.push(("dbname", self.dbname.clone()));
        if with_tls {
            pairs.extend(
                self.sslmode
                    .map(|mode| ("sslmode", mode.as_str().to_string())),
            );
            pairs.extend(self.sslrootcert.clone().map(|path| ("sslrootcert", path)));
        }
        let mut text: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect();
        text.extend(
            self.options
                .iter()
                .map(|(k, v)| format!("{k}={}", quote(v))),
        );
        text.join(" ")
    }
}

impl fmt::Display for PgDsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false, true))
    }
}

// === impl SslMode ===

impl SslMode {
    /// Every mode, as written in a connection string.
    pub const NAMES: [&str; 5] = ["disable", "prefer", "require", "verify-ca", "verify-full"];

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// === impl DsnError ===

impl fmt::Display for DsnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.problem {
            DsnProblem::NoValue => "a word in the connection string has no `=value`",
            DsnProblem::NoKey => "the connection string has a `=` without a key",
            DsnProblem::UnclosedQuote => "a value in the connection string has no closing quote",
            DsnProblem::UnknownKey => "the connection string has an unknown key",
            DsnProblem::BadPort => "the connection string's `port` is not a port number",
            DsnProblem::BadSslMode => "the connection string's `sslmode` is not a known mode",
            DsnProblem::NoRootCert => "sslmode verify-ca and verify-full need `sslrootcert`",
            DsnProblem::RelativeRootCert => {
                "the connection string's `sslrootcert` is not an absolute path"
            }
            DsnProblem::NoHost => "the connection string has no `host`",
            DsnProblem::NoUser => "the connection string has no `user`",
        })
    }
}

impl std::error::Error for DsnError {}

/// Quotes a conninfo value when it needs it.
fn quote(value: &str) -> String {
    if !value.is_empty() && !value.contains([' ', '\'', '\\']) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The pairs of `text`, and where its first `password` value starts.
fn conninfo_pairs(text: &str) -> Result<(Vec<Pair>, Option<usize>), DsnError> {
    let mut pairs = Vec::new();
    let mut password_at = None;
    let mut chars = text.char_indices().peekable();
    let at = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        chars.peek().map_or(text.len(), |(i, _)| *i)
    };
    let skip_spaces = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
    };
    loop {
        skip_spaces(&mut chars);
        let start = at(&mut chars);
        if start == text.len() {
            return Ok((pairs, password_at));
        }
        while chars
            .next_if(|(_, c)| *c != '=' && !c.is_whitespace())
            .is_some()
        {}
        let key = start..at(&mut chars);
        skip_spaces(&mut chars);
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            let problem = DsnProblem::NoValue;
            let value = key.clone();
            return Err(DsnError {
                problem,
                key,
                value,
                password_at,
            });
        }
        skip_spaces(&mut chars);
        let value_start = at(&mut chars);
        if &text[key.clone()] == "password" {
            password_at.get_or_insert(value_start);
        }
        let mut value = String::new();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            loop {
                match chars.next() {
                    Some((_, '\\')) => value.extend(chars.next().map(|(_, c)| c)),
                    Some((_, '\'')) => break,
                    Some((_, c)) => value.push(c),
                    None => {
                        return Err(DsnError {
                            problem: DsnProblem::UnclosedQuote,
                            key,
                            value: value_start..text.len(),
                            password_at,
                        });
                    }
                }
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                value.push(c);
            }
        }
        pairs.push((key, value, value_start..at(&mut chars)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders_dsns_without_showing_the_password() {
        let dsn = PgDsn::parse("host=127.0.0.1 port=5433 user=lifeline password='s3 cr\\'et' dbname=app sslmode=disable").unwrap();
        assert_eq!(dsn.host, "127.0.0.1");
        assert_eq!(dsn.port, 5433);
        assert_eq!(dsn.password.as_ref().unwrap().expose(), "s3 cr'et");
        assert_eq!(dsn.sslmode, Some(SslMode::Disable));
        assert!(dsn.options.is_empty());
        assert_eq!(
            dsn.to_string(),
            "host=127.0.0.1 port=5433 user=lifeline password=*** dbname=app sslmode=disable"
        );
        assert_eq!(
            dsn.conninfo_with_secret(),
            "host=127.0.0.1 port=5433 user=lifeline password='s3 cr\\'et' dbname=app sslmode=disable"
        );
        assert_eq!(PgDsn::parse(&dsn.conninfo_with_secret()).unwrap(), dsn);
    }

    #[test]
    fn rejects_broken_dsns_saying_where() {
        fn problem(text: &str) -> (DsnProblem, &str, &str) {
            let error = PgDsn::parse(text).unwrap_err();
            (error.problem, &text[error.key], &text[error.value])
        }
        assert_eq!(problem("port=5432 user=x").0, DsnProblem::NoHost);
        assert_eq!(problem("host=h").0, DsnProblem::NoUser);
        assert_eq!(
            problem("host=h user=u port=abc"),
            (DsnProblem::BadPort, "port", "abc")
        );
        assert_eq!(problem("host"), (DsnProblem::NoValue, "host", "host"));
        assert_eq!(
            problem("host=h user=u password='open"),
            (DsnProblem::UnclosedQuote, "password", "'open")
        );
        assert_eq!(
            problem("host=h w0rd=x user=u"),
            (DsnProblem::UnknownKey, "w0rd", "x")
        );
        assert_eq!(problem("host=h =x user=u").0, DsnProblem::NoKey);
    }

    #[test]
    fn reads_sslmode_and_sslrootcert_as_libpq_does() {
        let parse = |text: &str| PgDsn::parse(&format!("host=db user=u {text}"));
        let dsn = parse("").unwrap();
        assert_eq!((dsn.sslmode, dsn.ssl_mode()), (None, SslMode::Prefer));
        assert_eq!(dsn.cert_check(), CertCheck::None);
        for name in SslMode::NAMES {
            let mode = SslMode::parse(name).unwrap();
            assert_eq!(mode.as_str(), name);
        }
        let checks = [
            ("sslmode=disable", CertCheck::None),
            ("sslmode=require", CertCheck::None),
            ("sslmode=require sslrootcert=/ca.pem", CertCheck::Chain),
            ("sslmode=prefer sslrootcert=/ca.pem", CertCheck::Chain),
            ("sslrootcert=/ca.pem", CertCheck::Chain),
            ("sslmode=disable sslrootcert=/ca.pem", CertCheck::None),
            ("sslmode=verify-ca sslrootcert=/ca.pem", CertCheck::Chain),
            (
                "sslmode=verify-full sslrootcert=/ca.pem",
                CertCheck::ChainAndHost,
            ),
        ];
        for (text, check) in checks {
            assert_eq!(parse(text).unwrap().cert_check(), check, "{text}");
        }
        let dsn = parse("sslmode=verify-full sslrootcert='/etc/my ca.pem'").unwrap();
        assert_eq!(dsn.sslrootcert.as_deref(), Some("/etc/my ca.pem"));
        assert_eq!(PgDsn::parse(&dsn.conninfo_with_secret()).unwrap(), dsn);
        assert_eq!(
            dsn.conninfo_without_tls(),
            "host=db port=5432 user=u dbname=postgres"
        );

        let problem = |text: &str| {
            let full = format!("host=db user=u {text}");
            let error = PgDsn::parse(&full).unwrap_err();
            (error.problem, full[error.value].to_string())
        };
        for bad in ["allow", "verify_full", "VERIFY-FULL", ""] {
            assert_eq!(
                problem(&format!("sslmode='{bad}'")),
                (DsnProblem::BadSslMode, format!("'{bad}'"))
            );
        }
        assert_eq!(problem("sslmode=verify-ca").0, DsnProblem::NoRootCert);
        assert_eq!(problem("sslmode=verify-full").0, DsnProblem::NoRootCert);
        assert_eq!(
            problem("sslrootcert=ca.pem"),
            (DsnProblem::RelativeRootCert, "ca.pem".to_string())
        );
    }

    #[test]
    fn says_where_the_password_starts() {
        let text = "host=h user=u password=Pa55 w0rd=SECRETtail";
        let error = PgDsn::parse(text).unwrap_err();
        assert_eq!(error.problem, DsnProblem::UnknownKey);
        assert_eq!(error.password_at, Some(23));
        assert_eq!(&text[23..], "Pa55 w0rd=SECRETtail");
        let error = PgDsn::parse("host w0rd password=x").unwrap_err();
        assert_eq!(error.password_at, None);
    }
}
