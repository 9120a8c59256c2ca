//! The file as written: serde structs that mirror `lifeline.toml` before any checks.
//!
//! Every field is optional and carries its span, so `validate` can report a missing or impossible
//! value at its exact position and keep going. Unknown keys are not rejected here but collected
//! by `serde_ignored` (see `unknown.rs`), which finds all of them instead of only the first.
//! A new section is a new struct here plus a field on [`RawConfig`].
//!
//! None of these types implement `Debug`: they hold secrets before they become [`Secret`]s.
//!
//! [`Secret`]: lifeline_model::Secret

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Visitor};
use toml::Spanned;

/// A key that may be absent, with its value's position when present.
pub(crate) type Field<T> = Option<Spanned<T>>;

/// The whole document.
#[derive(Deserialize)]
pub(crate) struct RawConfig {
    pub admin: Option<RawAdmin>,
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<Spanned<RawMonitor>>,
    #[serde(default, rename = "pool")]
    pub pools: Vec<Spanned<RawPool>>,
}

/// `[admin]`.
#[derive(Default, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawAdmin {
    pub listen: Field<String>,
    /// Any TOML value, so a wrong type is reported without echoing it.
    pub token: Field<toml::Value>,
    pub state_file: Field<String>,
}

/// `[[monitor]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawMonitor {
    pub name: Field<String>,
    #[serde(rename = "type")]
    pub kind: Field<String>,
    pub interval: Field<String>,
    pub timeout: Field<String>,
    pub retries: Field<i64>,
    /// HAProxy's name for `retries`.
    pub fall: Field<i64>,
    pub rise: Field<i64>,
    // http and https
    pub method: Field<String>,
    pub path: Field<String>,
    pub port: Field<i64>,
    /// Keyed by plain `String`: `serde_ignored` cannot pass spanned map keys through.
    pub headers: Field<BTreeMap<String, Spanned<String>>>,
    pub expected_codes: Field<CodesText>,
    pub expected_body: Field<String>,
    pub follow_redirects: Field<bool>,
    pub allow_insecure: Field<bool>,
    // postgres
    pub user: Field<String>,
    /// Any TOML value, so a wrong type is reported without echoing it.
    pub password: Field<toml::Value>,
    pub database: Field<String>,
}

/// `[[pool]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawPool {
    pub name: Field<String>,
    pub monitor: Field<String>,
    pub minimum_origins: Field<i64>,
    pub origins: Field<Vec<Spanned<RawOrigin>>>,
}

/// One entry of a pool's `origins`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawOrigin {
    pub name: Field<String>,
    pub address: Field<String>,
    pub weight: Field<i64>,
    pub enabled: Field<bool>,
}

/// `expected_codes`, written as a string (`"2xx"`, `"200,204"`) or a single integer (`200`).
pub(crate) struct CodesText(pub String);

// === impl CodesText ===

impl<'de> Deserialize<'de> for CodesText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CodesVisitor)
    }
}

struct CodesVisitor;

impl Visitor<'_> for CodesVisitor {
    type Value = CodesText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a status code like 200 or a string like \"2xx\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<CodesText, E> {
        Ok(CodesText(text.to_string()))
    }

    fn visit_i64<E: de::Error>(self, code: i64) -> Result<CodesText, E> {
        Ok(CodesText(code.to_string()))
    }
}
