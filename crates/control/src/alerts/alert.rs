//! An alert, its fingerprint, and the two bodies it travels in: Alertmanager's webhook body
//! (version 4) and the alerts of Alertmanager's `POST /api/v2/alerts`. Pure.

use std::collections::BTreeMap;

use lifeline_model::{AlertName, ReceiverName, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What Alertmanager writes for "no end".
const NO_END: &str = "0001-01-01T00:00:00Z";

/// One alert, as identified by its labels (`alertname` and what it is about).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// A firing alert and since when it fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Firing {
    pub alert: Alert,
    pub starts_at: Timestamp,
}

/// One alert as a notification carries it: firing, or resolved at `ends_at`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub alert: Alert,
    pub starts_at: Timestamp,
    /// `Some` once resolved.
    pub ends_at: Option<Timestamp>,
}

/// What one receiver is to be told at once: one entry of the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub receiver: ReceiverName,
    pub notices: Vec<Notice>,
    pub created_at: Timestamp,
}

impl Alert {
    pub fn new(name: AlertName, severity: &str, about: &[(&str, &str)]) -> Self {
        let mut labels = BTreeMap::from([
            ("alertname".to_string(), name.as_str().to_string()),
            ("severity".to_string(), severity.to_string()),
        ]);
        labels.extend(about.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self {
            labels,
            annotations: BTreeMap::new(),
        }
    }

    pub fn annotate(mut self, key: &str, value: impl Into<String>) -> Self {
        self.annotations.insert(key.to_string(), value.into());
        self
    }

    pub fn name(&self) -> Option<AlertName> {
        AlertName::parse(self.labels.get("alertname")?)
    }

    /// Prometheus's fingerprint of a label set: FNV-1a (64 bits) over each name and value,
    /// each followed by 0xff, in name order; as 16 hex digits, as Alertmanager shows it.
    pub fn fingerprint(&self) -> String {
        const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        let mut hash = OFFSET;
        for (name, value) in &self.labels {
            for byte in name
                .bytes()
                .chain([0xff])
                .chain(value.bytes())
                .chain([0xff])
            {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(PRIME);
            }
        }
        format!("{hash:016x}")
    }
}

impl Notice {
    fn status(&self) -> &'static str {
        if self.ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        }
    }
}

impl Notification {
    /// Alertmanager's webhook body, version 4, as one group of the receiver's.
    pub fn webhook_body(&self, external_url: &str) -> Value {
        let alerts: Vec<Value> = self
            .notices
            .iter()
            .map(|notice| {
                json!({
                    "status": notice.status(),
                    "labels": notice.alert.labels,
                    "annotations": notice.alert.annotations,
                    "startsAt": notice.starts_at.to_string(),
                    "endsAt": notice.ends_at.map_or(NO_END.to_string(), |t| t.to_string()),
                    "generatorURL": format!("{external_url}/events"),
                    "fingerprint": notice.alert.fingerprint(),
                })
            })
            .collect();
        let firing = self.notices.iter().any(|n| n.ends_at.is_none());
        json!({
            "version": "4",
            "groupKey": format!("{{}}:{{receiver=\"{}\"}}", self.receiver),
            "truncatedAlerts": 0,
            "status": if firing { "firing" } else { "resolved" },
            "receiver": self.receiver.as_str(),
            "groupLabels": {},
            "commonLabels": common(self.notices.iter().map(|n| &n.alert.labels)),
            "commonAnnotations": common(self.notices.iter().map(|n| &n.alert.annotations)),
            "externalURL": external_url,
            "alerts": alerts,
        })
    }

    /// The body of Alertmanager's `POST /api/v2/alerts`. A firing alert ends `resend_after`
    /// from now unless it is sent again, as Prometheus does, so that Alertmanager resolves it
    /// by itself should Lifeline go away.
    pub fn alertmanager_body(
        &self,
        external_url: &str,
        now: Timestamp,
        resend_after: std::time::Duration,
    ) -> Value {
        let alerts: Vec<Value> = self
            .notices
            .iter()
            .map(|notice| {
                let ends_at = notice.ends_at.unwrap_or_else(|| now.plus(resend_after));
                json!({
                    "labels": notice.alert.labels,
                    "annotations": notice.alert.annotations,
                    "startsAt": notice.starts_at.to_string(),
                    "endsAt": ends_at.to_string(),
                    "generatorURL": format!("{external_url}/events"),
                })
            })
            .collect();
        Value::Array(alerts)
    }
}

/// The pairs every map shares.
fn common<'a>(
    mut maps: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = maps.next() else {
        return BTreeMap::new();
    };
    let mut shared = first.clone();
    for map in maps {
        shared.retain(|k, v| map.get(k) == Some(v));
    }
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_identify_label_sets() {
        let alert = Alert {
            labels: BTreeMap::from([("alertname".into(), "up".into())]),
            annotations: BTreeMap::new(),
        };
        assert_eq!(alert.fingerprint().len(), 16);
        let other = Alert::new(AlertName::PoolDown, "critical", &[("pool", "a")]);
        assert_ne!(alert.fingerprint(), other.fingerprint());
        let same =
            Alert::new(AlertName::PoolDown, "critical", &[("pool", "a")]).annotate("summary", "x");
        assert_eq!(
            other.fingerprint(),
            same.fingerprint(),
            "annotations are not identity"
        );
    }

    #[test]
    fn a_webhook_body_is_alertmanager_s_version_4() {
        let down = Alert::new(AlertName::PoolDown, "critical", &[("pool", "a")])
            .annotate("summary", "pool a is down");
        let degraded = Alert::new(AlertName::PoolDegraded, "warning", &[("pool", "b")]);
        let notification = Notification {
            receiver: ReceiverName::new("ops"),
            notices: vec![
                Notice {
                    alert: down,
                    starts_at: Timestamp::from_millis(1_000),
                    ends_at: None,
                },
                Notice {
                    alert: degraded,
                    starts_at: Timestamp::from_millis(500),
                    ends_at: Some(Timestamp::from_millis(2_000)),
                },
            ],
            created_at: Timestamp::from_millis(2_000),
        };
        let body = notification.webhook_body("http://127.0.0.1:9191");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["receiver"], "ops");
        assert_eq!(body["alerts"][0]["status"], "firing");
        assert_eq!(body["alerts"][0]["endsAt"], NO_END);
        assert_eq!(body["alerts"][0]["labels"]["pool"], "a");
        assert_eq!(body["alerts"][1]["status"], "resolved");
        assert_eq!(body["alerts"][1]["endsAt"], "1970-01-01T00:00:02.000Z");
        assert_eq!(body["commonLabels"], json!({}), "{body}");
        assert_eq!(body["alerts"][0]["fingerprint"].as_str().unwrap().len(), 16);
    }
}
