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
    pub proxy: Option<RawProxy>,
    pub store: Field<RawStore>,
    pub instance: Field<RawInstance>,
    #[serde(default, rename = "monitor")]
    pub monitors: Vec<Spanned<RawMonitor>>,
    #[serde(default, rename = "pool")]
    pub pools: Vec<Spanned<RawPool>>,
    #[serde(default, rename = "load_balancer")]
    pub load_balancers: Vec<Spanned<RawLoadBalancer>>,
    #[serde(default, rename = "cluster")]
    pub clusters: Vec<Spanned<RawCluster>>,
    #[serde(default, rename = "signal")]
    pub signals: Vec<Spanned<RawSignal>>,
    #[serde(default, rename = "scorecard")]
    pub scorecards: Vec<Spanned<RawScorecard>>,
    #[serde(default, rename = "notify")]
    pub receivers: Vec<Spanned<RawNotify>>,
}

/// `[admin]`.
#[derive(Default, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawAdmin {
    pub listen: Field<String>,
    /// Any TOML value, so a wrong type is reported without echoing it.
    pub token: Field<toml::Value>,
    pub state_file: Field<String>,
    pub header_timeout: Field<String>,
    pub idle_timeout: Field<String>,
    pub max_connections: Field<i64>,
}

/// `[proxy]`.
#[derive(Default, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawProxy {
    pub idle_timeout: Field<String>,
    pub client_body_timeout: Field<String>,
    pub send_timeout: Field<String>,
    pub max_connections: Field<i64>,
}

/// `[store]`.
#[derive(Default, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawStore {
    pub backend: Field<String>,
    pub endpoints: Field<Vec<Spanned<String>>>,
    pub prefix: Field<String>,
    pub lease_ttl: Field<String>,
    pub username: Field<String>,
    /// Any TOML value, so a wrong type is reported without echoing it.
    pub password: Field<toml::Value>,
    pub ca_file: Field<String>,
    pub cert_file: Field<String>,
    pub key_file: Field<String>,
    pub health_quorum: Field<String>,
}

/// `[instance]`.
#[derive(Default, Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawInstance {
    pub name: Field<String>,
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
    pub origin_protocol: Field<String>,
    pub origin_allow_insecure: Field<bool>,
    pub eject_after: Field<i64>,
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

/// `[[load_balancer]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawLoadBalancer {
    pub name: Field<String>,
    pub listen: Field<RawListen>,
    pub hostnames: Field<Vec<Spanned<String>>>,
    pub default_pools: Field<Vec<Spanned<String>>>,
    pub fallback_pool: Field<String>,
    pub steering_policy: Field<String>,
    /// Region name to pools. Keyed by plain `String`, as `headers` is.
    pub region_pools: Field<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    /// Address prefix to region name.
    pub regions: Field<BTreeMap<String, Spanned<String>>>,
    pub region_header: Field<String>,
    pub session_affinity: Field<String>,
    pub try_timeout: Field<String>,
    pub retries: Field<i64>,
    pub hedge_after: Field<String>,
    pub slow_start: Field<String>,
    pub rto_alert: Field<String>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Spanned<RawRule>>,
}

/// `[[load_balancer.rule]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawRule {
    pub path_prefix: Field<String>,
    pub default_pools: Field<Vec<Spanned<String>>>,
    pub fallback_pool: Field<String>,
}

/// `[[cluster]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawCluster {
    pub name: Field<String>,
    pub kind: Field<String>,
    pub nodes: Field<Vec<Spanned<RawNode>>>,
    pub writer_listen: Field<String>,
    pub reader_listen: Field<String>,
    pub sentinel_listen: Field<String>,
    pub check_interval: Field<String>,
    pub failure_threshold: Field<i64>,
    pub rise: Field<i64>,
    pub maximum_lag_on_failover: Field<SizeText>,
    pub primary_silence: Field<String>,
    pub synchronous_mode: Field<bool>,
    pub synchronous_mode_strict: Field<bool>,
    pub auto_failover: Field<bool>,
    pub writer_wait: Field<String>,
    pub rejoin_command: Field<String>,
    /// Redis: the credentials and TLS every node shares.
    pub username: Field<String>,
    pub password: Field<toml::Value>,
    pub tls: Field<bool>,
    pub ca_file: Field<String>,
    pub allow_insecure: Field<bool>,
}

/// One entry of a cluster's `nodes`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawNode {
    pub name: Field<String>,
    /// Any TOML value, so a wrong type is reported without echoing it: it holds a password.
    pub dsn: Field<toml::Value>,
    /// Redis: `host:port`.
    pub address: Field<String>,
    pub priority: Field<i64>,
    pub no_failover: Field<bool>,
}

/// `[[signal]]`: a name, a weight, and one source (`pool`, `origin`, `load_balancer`, `cluster`
/// with an optional `node`), with `state` or `lag_above` saying when it is on.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawSignal {
    pub name: Field<String>,
    pub weight: Field<i64>,
    pub pool: Field<String>,
    pub origin: Field<String>,
    pub load_balancer: Field<String>,
    pub cluster: Field<String>,
    pub node: Field<String>,
    pub state: Field<String>,
    /// A size (`"16MB"`, bytes) or a duration (`"30s"`).
    pub lag_above: Field<SizeText>,
}

/// `[[scorecard]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawScorecard {
    pub name: Field<String>,
    pub signals: Field<Vec<Spanned<String>>>,
    pub levels: Field<Vec<Spanned<i64>>>,
    #[serde(rename = "for")]
    pub hold_for: Field<String>,
    pub cool_down: Field<String>,
    pub hold: Field<String>,
}

/// `[[notify]]`.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawNotify {
    pub name: Field<String>,
    pub kind: Field<String>,
    pub url: Field<String>,
    pub run: Field<Vec<Spanned<String>>>,
    pub alerts: Field<Vec<Spanned<String>>>,
    pub group_wait: Field<String>,
    pub timeout: Field<String>,
}

/// A load balancer's `listen`: one address or table, or an array of them.
///
/// Deserialized by hand rather than as an untagged enum: an untagged enum buffers the value,
/// which loses the spans inside it and hides unknown keys from `serde_ignored`.
pub(crate) enum RawListen {
    One(RawListenItem),
    Many(Vec<Spanned<RawListenItem>>),
}

/// One `listen` entry: `"127.0.0.1:8080"` or `{ address = "...", tls_certificate, tls_key }`.
pub(crate) enum RawListenItem {
    Address(String),
    Table(RawListenTable),
}

/// The table form of a `listen` entry.
#[derive(Deserialize)]
#[serde(expecting = "a table")]
pub(crate) struct RawListenTable {
    pub address: Field<String>,
    pub tls_certificate: Field<String>,
    pub tls_key: Field<String>,
}

/// `expected_codes`, written as a string (`"2xx"`, `"200,204"`) or a single integer (`200`).
pub(crate) struct CodesText(pub String);

/// A size, written as an integer of bytes (`1048576`) or a string with a unit (`"1MB"`).
pub(crate) enum SizeText {
    Bytes(i64),
    Text(String),
}

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

// === impl SizeText ===

impl<'de> Deserialize<'de> for SizeText {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SizeVisitor)
    }
}

struct SizeVisitor;

impl Visitor<'_> for SizeVisitor {
    type Value = SizeText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a size like 1048576 or \"1MB\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<SizeText, E> {
        Ok(SizeText::Text(text.to_string()))
    }

    fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<SizeText, E> {
        Ok(SizeText::Bytes(bytes))
    }
}

// === impl RawListen ===

impl<'de> Deserialize<'de> for RawListen {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListenVisitor)
    }
}

struct ListenVisitor;

impl<'de> Visitor<'de> for ListenVisitor {
    type Value = RawListen;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(LISTEN_EXPECTING)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RawListen, E> {
        ListenItemVisitor.visit_str(text).map(RawListen::One)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawListen, A::Error> {
        ListenItemVisitor.visit_map(map).map(RawListen::One)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawListen, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawListen::Many(items))
    }
}

// === impl RawListenItem ===

impl<'de> Deserialize<'de> for RawListenItem {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ListenItemVisitor)
    }
}

const LISTEN_EXPECTING: &str =
    "an address like \"127.0.0.1:8080\", a table with `address`, or an array of them";

struct ListenItemVisitor;

impl<'de> Visitor<'de> for ListenItemVisitor {
    type Value = RawListenItem;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an address like \"127.0.0.1:8080\" or a table with `address`")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<RawListenItem, E> {
        Ok(RawListenItem::Address(text.to_string()))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawListenItem, A::Error> {
        // Through the same `MapAccess`, so spans and unknown keys survive.
        RawListenTable::deserialize(de::value::MapAccessDeserializer::new(map))
            .map(RawListenItem::Table)
    }
}
