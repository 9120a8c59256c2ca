//! A real Alertmanager (Debian's `prometheus-alertmanager`, installed when missing) on a free
//! loopback port, with clustering off and one receiver that sends nowhere, so that a test can
//! read back the alerts Lifeline posted through Alertmanager's own API. Killed when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;

use crate::ports::free_port;
use crate::wait;

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

pub struct Alertmanager {
    pub port: u16,
    child: Child,
    _dir: TempDir,
}

impl Alertmanager {
    pub async fn start() -> Self {
        crate::install::ensure_package(ALERTMANAGER, "prometheus-alertmanager");
        let dir = tempfile::tempdir().expect("cannot make the Alertmanager's directory");
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n",
        )
        .expect("cannot write the Alertmanager's config");
        let port = free_port();
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start prometheus-alertmanager");
        let alertmanager = Self {
            port,
            child,
            _dir: dir,
        };
        let url = format!("{}/-/ready", alertmanager.url());
        wait::until(
            "Alertmanager to be ready",
            Duration::from_secs(20),
            || async {
                let answer = crate::http::client().get(&url).send().await.ok()?;
                answer.status().is_success().then_some(())
            },
        )
        .await;
        alertmanager
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts`: the alerts it holds (active ones by default).
    pub async fn alerts(&self) -> Vec<Value> {
        let url = format!("{}/api/v2/alerts", self.url());
        let answer = crate::http::client()
            .get(&url)
            .send()
            .await
            .expect("Alertmanager answers");
        answer
            .json::<Vec<Value>>()
            .await
            .expect("Alertmanager's alerts are JSON")
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
