//! What an origin's `/health` answers, and how a `/_control` query changes it.

use std::time::Duration;

use serde_json::json;

/// What `GET /health` answers. The delay applies to every route except `/_control`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Behaviour {
    /// Status code of `/health`, 100-599. Default 200.
    pub status: u16,
    /// Wait before answering. Default none.
    pub delay: Duration,
    /// Replaces the JSON body of `/health`. Default `None`.
    pub body: Option<String>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Self {
            status: 200,
            delay: Duration::ZERO,
            body: None,
        }
    }
}

impl Behaviour {
    /// Applies a `/_control` query (`status`, `delay_ms`, `body`, `reset`) to this behaviour.
    /// `reset=1` starts from the default before the other parameters apply. Returns a one-line
    /// message naming the bad parameter when one does not parse.
    pub(crate) fn with_query(&self, query: &str) -> Result<Behaviour, String> {
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let reset = params
            .iter()
            .any(|(key, value)| key == "reset" && matches!(value.as_str(), "1" | "true"));
        let mut next = if reset {
            Behaviour::default()
        } else {
            self.clone()
        };
        for (key, value) in params {
            match key.as_str() {
                "reset" => {}
                "status" => {
                    next.status = value
                        .parse()
                        .ok()
                        .filter(|status| (100..=599).contains(status))
                        .ok_or_else(|| format!("status `{value}` is not a code in 100-599"))?;
                }
                "delay_ms" => {
                    let millis: u64 = value.parse().map_err(|_| {
                        format!("delay_ms `{value}` is not a number of milliseconds")
                    })?;
                    next.delay = Duration::from_millis(millis);
                }
                "body" => next.body = Some(value),
                other => return Err(format!("unknown parameter `{other}`")),
            }
        }
        Ok(next)
    }

    /// `{"status":200,"delay_ms":0,"body":null}`.
    pub(crate) fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    pub(crate) fn to_value(&self) -> serde_json::Value {
        let delay_ms = u64::try_from(self.delay.as_millis()).unwrap_or(u64::MAX);
        json!({ "status": self.status, "delay_ms": delay_ms, "body": self.body })
    }

    pub(crate) fn is_healthy(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_changes_only_what_it_names() {
        let slow = Behaviour::default().with_query("delay_ms=3000").unwrap();
        assert_eq!(slow.delay, Duration::from_millis(3000));
        assert_eq!(slow.status, 200);
        let failing = slow.with_query("status=500&body=down%20now").unwrap();
        assert_eq!(failing.status, 500);
        assert_eq!(failing.delay, Duration::from_millis(3000));
        assert_eq!(failing.body.as_deref(), Some("down now"));
    }

    #[test]
    fn reset_applies_before_the_other_parameters() {
        let failing = Behaviour::default()
            .with_query("status=500&delay_ms=10")
            .unwrap();
        let reset = failing.with_query("status=503&reset=1").unwrap();
        assert_eq!(reset.status, 503);
        assert_eq!(reset.delay, Duration::ZERO);
        assert_eq!(failing.with_query("reset=1").unwrap(), Behaviour::default());
    }

    #[test]
    fn bad_parameters_are_refused() {
        let base = Behaviour::default();
        for bad in ["status=abc", "status=700", "delay_ms=-1", "colour=red"] {
            assert!(base.with_query(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_names_every_field() {
        let json = Behaviour::default()
            .with_query("status=500&delay_ms=5")
            .unwrap()
            .to_json();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value, json!({ "status": 500, "delay_ms": 5, "body": null }));
    }
}
