//! A real HTTP origin process (`lifeline origin`) that a test can slow, break and kill.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::signal::{send_signal, wait_for_address};

/// A running `lifeline origin` process. Killed on drop.
pub struct OriginProcess {
    pub name: String,
    pub port: u16,
    /// The address it listens on: loopback, or a [`TestNet`](crate::netns::TestNet) address.
    pub ip: std::net::Ipv4Addr,
    binary: std::path::PathBuf,
    child: Option<Child>,
}

impl OriginProcess {
    /// Starts an origin on a free loopback port and waits until it accepts connections.
    pub fn spawn(binary: &Path, name: &str) -> Self {
        Self::spawn_on(binary, name, std::net::Ipv4Addr::LOCALHOST)
    }

    /// Starts an origin on a free port of `ip`.
    pub fn spawn_on(binary: &Path, name: &str, ip: std::net::Ipv4Addr) -> Self {
        let mut origin = Self {
            name: name.to_string(),
            port: free_port(),
            ip,
            binary: binary.to_path_buf(),
            child: None,
        };
        origin.start();
        origin
    }

    /// Starts it again on the same port after a kill.
    pub fn start(&mut self) {
        assert!(
            self.child.is_none(),
            "origin {} is already running",
            self.name
        );
        let child = Command::new(&self.binary)
            .args(["origin", "--listen", &self.address(), "--name", &self.name])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start origin {}: {e}", self.name));
        self.child = Some(child);
        wait_for_address(self.ip, self.port, Duration::from_secs(10));
    }

    pub fn address(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// Makes `/health` (and every other path) answer `status` after `delay`.
    pub async fn behave(&self, status: u16, delay: Duration) {
        let url = format!(
            "http://{}/_control?status={status}&delay_ms={}",
            self.address(),
            delay.as_millis()
        );
        let response = crate::http::client()
            .post(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot reach origin {}: {e}", self.name));
        assert!(
            response.status().is_success(),
            "origin {} refused the change",
            self.name
        );
    }

    /// Requests it is answering now (its `GET /_control` counts them).
    pub async fn in_flight(&self) -> u64 {
        let url = format!("http://{}/_control", self.address());
        let view: serde_json::Value = crate::http::client()
            .get(url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("cannot reach origin {}: {e}", self.name))
            .json()
            .await
            .unwrap_or_else(|e| panic!("origin {} answered no JSON: {e}", self.name));
        view["in_flight"]
            .as_u64()
            .unwrap_or_else(|| panic!("no in_flight in {view}"))
    }

    /// Waits until a request is in flight on it: it has arrived and is not answered yet.
    pub async fn wait_in_flight(&self) {
        crate::wait::until(
            &format!("a request in flight on {}", self.name),
            Duration::from_secs(5),
            || async { (self.in_flight().await > 0).then_some(()) },
        )
        .await;
    }

    /// `kill -9`: the port closes at once.
    pub fn kill9(&mut self) {
        let mut child = self
            .child
            .take()
            .unwrap_or_else(|| panic!("origin {} is not running", self.name));
        child
            .kill()
            .unwrap_or_else(|e| panic!("cannot kill origin {}: {e}", self.name));
        child
            .wait()
            .unwrap_or_else(|e| panic!("cannot reap origin {}: {e}", self.name));
    }

    /// `SIGSTOP`: the port stays open but nothing answers.
    pub fn sigstop(&self) {
        assert!(
            send_signal(self.pid(), libc::SIGSTOP),
            "origin {} is gone",
            self.name
        );
    }

    pub fn sigcont(&self) {
        assert!(
            send_signal(self.pid(), libc::SIGCONT),
            "origin {} is gone",
            self.name
        );
    }

    fn pid(&self) -> i32 {
        let child = self
            .child
            .as_ref()
            .unwrap_or_else(|| panic!("origin {} is not running", self.name));
        i32::try_from(child.id()).expect("pid fits in i32")
    }
}

impl Drop for OriginProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.kill().is_ok()
        {
            child.wait().ok();
        }
    }
}
