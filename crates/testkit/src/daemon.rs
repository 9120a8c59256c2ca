//! The `lifeline run` daemon as a real process, observed through its admin API.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ports::free_port;
use crate::signal::{send_signal, wait_for_port};

/// The admin token every test daemon is given.
pub const TOKEN: &str = "test-admin-token-5ecret";

/// A running daemon with its config and state in a temporary directory. Killed on drop.
pub struct Daemon {
    pub admin_port: u16,
    /// The address it serves on: loopback, or its network namespace's.
    pub host: String,
    /// The network namespace it runs in, if any.
    namespace: Option<Vec<String>>,
    pub config_path: PathBuf,
    dir: tempfile::TempDir,
    binary: PathBuf,
    /// `RLIMIT_NOFILE` of the daemon, when a test wants it low.
    fd_limit: Option<u32>,
    /// Extra environment variables of the daemon, for `${VAR}` in its config.
    env: Vec<(String, String)>,
    child: Option<Child>,
}

impl Daemon {
    /// Writes `config` (which must contain `{admin}` where the admin listen address goes and may
    /// contain `{token}`) to a file, starts `lifeline run` on it and waits for the admin API.
    pub fn start(binary: &Path, config: &str) -> Self {
        Self::launch(binary, config, None, &[])
    }

    /// Like [`start`](Self::start), with the daemon's open files limited to `fd_limit` (through
    /// the shell's `ulimit -n`, which then `exec`s the daemon: its pid stays the daemon's).
    pub fn start_limited(binary: &Path, config: &str, fd_limit: Option<u32>) -> Self {
        Self::launch(binary, config, fd_limit, &[])
    }

    /// As [`Daemon::start`], with these environment variables set for the daemon.
    pub fn start_with_env(binary: &Path, config: &str, env: &[(&str, &str)]) -> Self {
        Self::launch(binary, config, None, env)
    }

    /// As [`Daemon::start`], inside `namespace`: `{admin}` (and `{host}`, for its other
    /// listeners) are the namespace's address.
    pub fn start_in(binary: &Path, config: &str, namespace: &crate::netns::Namespace) -> Self {
        Self::launch_with(binary, config, None, &[], Launch::In(namespace))
    }

    /// As [`Daemon::start`], serving on `ip` (a [`TestNet`](crate::netns::TestNet) service
    /// address, which namespaces reach too): `{admin}` and `{host}` are on it.
    pub fn start_on(binary: &Path, config: &str, ip: &str) -> Self {
        Self::launch_with(binary, config, None, &[], Launch::On(ip))
    }

    fn launch(binary: &Path, config: &str, fd_limit: Option<u32>, env: &[(&str, &str)]) -> Self {
        Self::launch_with(binary, config, fd_limit, env, Launch::On("127.0.0.1"))
    }

    fn launch_with(
        binary: &Path,
        config: &str,
        fd_limit: Option<u32>,
        env: &[(&str, &str)],
        launch: Launch<'_>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("cannot make a temp dir");
        let admin_port = free_port();
        let config_path = dir.path().join("lifeline.toml");
        let mut daemon = Self {
            admin_port,
            host: match launch {
                Launch::On(ip) => ip.to_string(),
                Launch::In(namespace) => namespace.ip.clone(),
            },
            namespace: match launch {
                Launch::On(_) => None,
                Launch::In(namespace) => Some(namespace.exec_prefix()),
            },
            config_path,
            dir,
            binary: binary.to_path_buf(),
            fd_limit,
            env: env
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            child: None,
        };
        daemon.write_config(config);
        daemon.restart();
        daemon
    }

    /// Replaces the config file (same placeholders as `start`), without telling the daemon.
    pub fn write_config(&self, config: &str) {
        let text = config
            .replace("{admin}", &format!("{}:{}", self.host, self.admin_port))
            .replace("{host}", &self.host)
            .replace("{token}", TOKEN);
        std::fs::write(&self.config_path, text).expect("cannot write the config");
    }

    /// Starts the daemon (again) and waits until its admin API answers.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// `restart` with more arguments for `lifeline run` (such as `--reset-state`).
    pub fn restart_with(&mut self, args: &[&str]) {
        assert!(self.child.is_none(), "the daemon is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("cannot open the daemon log");
        let mut command = match self.fd_limit {
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .arg("-c")
                    .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                    .arg(&self.binary);
                shell
            }
            None => match &self.namespace {
                Some(prefix) => {
                    let mut exec = Command::new(&prefix[0]);
                    exec.args(&prefix[1..]).arg(&self.binary);
                    exec
                }
                None => Command::new(&self.binary),
            },
        };
        let child = command
            .args(["run", "-c"])
            .arg(&self.config_path)
            .args(args)
            .env("RUST_LOG", "info")
            .env("LIFELINE_TOKEN_FOR_TESTS", TOKEN)
            .envs(self.env.iter().map(|(name, value)| (name, value)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cannot start the daemon");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect((self.host.as_str(), self.admin_port)).is_err() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "the daemon exited with {status} before serving:\n{}",
                    self.logs()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the daemon's admin API did not come up:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `lifeline run` on the config (plus `args`) while the daemon is stopped, for a start
    /// that must fail: its exit code and what it wrote to stderr. Kills it and panics if it is
    /// still running after 15 s.
    pub fn run_to_exit(&self, args: &[&str]) -> (Option<i32>, String) {
        assert!(self.child.is_none(), "the daemon is already running");
        let stderr_path = self.dir.path().join("run-to-exit.log");
        let stderr = std::fs::File::create(&stderr_path).expect("cannot create the log");
        let mut child = Command::new(&self.binary)
            .args(["run", "-c"])
            .arg(&self.config_path)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("cannot start the daemon");
        let start = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("cannot wait for the daemon") {
                break status;
            }
            if start.elapsed() > Duration::from_secs(15) {
                child.kill().expect("cannot kill the daemon");
                child.wait().expect("cannot reap the daemon");
                panic!(
                    "the daemon was still running after 15 s:\n{}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let logged = std::fs::read_to_string(&stderr_path).expect("cannot read the log");
        (status.code(), logged)
    }

    pub fn admin_url(&self) -> String {
        format!("http://{}:{}", self.host, self.admin_port)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("daemon.log")
    }

    /// Everything the daemon has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `GET path` on the admin API: status code and JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = crate::http::client()
            .get(format!("{}{path}", self.admin_url()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `POST path` with an optional bearer token: status code and JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = crate::http::client().post(format!("{}{path}", self.admin_url()));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The `health` of one origin in `GET /status`.
    pub async fn origin_health(&self, origin: &str) -> String {
        let (_, status) = self.get("/status").await;
        status["pools"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|pool| pool["origins"].as_array().into_iter().flatten())
            .find(|o| o["name"] == origin)
            .and_then(|o| o["health"].as_str())
            .unwrap_or("missing")
            .to_string()
    }

    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("the daemon is not running").id();
        assert!(
            send_signal(i32::try_from(pid).expect("pid fits in i32"), signal),
            "the daemon is gone"
        );
    }

    /// Sends SIGTERM and waits for the exit (at most 15 s).
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        let mut child = self.child.take().expect("the daemon is not running");
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("cannot wait for the daemon") {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "the daemon ignored SIGTERM:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the daemon is not running");
        child.kill().expect("cannot kill the daemon");
        child.wait().expect("cannot reap the daemon");
    }

    /// Runs another `lifeline` command against this daemon (status, events, ...): exit code,
    /// stdout, stderr.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(&self.binary)
            .args(args)
            .env("LIFELINE_ADMIN", self.admin_url())
            .output()
            .expect("cannot run lifeline");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// Where a daemon runs: on the host, serving on an address, or in a network namespace.
#[derive(Clone, Copy)]
enum Launch<'a> {
    On(&'a str),
    In(&'a crate::netns::Namespace),
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take()
            && child.kill().is_ok()
        {
            child.wait().ok();
        }
    }
}

/// Waits until a port accepts connections (re-exported for tests that start their own servers).
pub fn wait_until_listening(port: u16) {
    wait_for_port(port, Duration::from_secs(10));
}
