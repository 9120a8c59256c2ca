//! Real network partitions for tests: network namespaces joined to the host by veth pairs.
//!
//! A [`TestNet`] owns a /24 of 10.64.0.0/10 picked from the test's PID (nextest runs each test in
//! its own process). Its service addresses (`.1` to `.63`) sit on the host's loopback interface,
//! so a server bound to one (etcd, an origin) is reached at the same address from the host and
//! from every namespace: all instances can share one config. Each [`Namespace`] gets a /30 of
//! the rest, a default route to the host, and can have any address cut off by a blackhole
//! route: the namespace's packets to it are dropped, so its connections there break and new ones
//! fail at once (EINVAL), while everyone else still gets through.
//! Everything is removed on drop. Needs root, as the rest of the suite does.

use std::process::Command;

/// A test's addresses and namespaces.
pub struct TestNet {
    prefix: String,
    tag: u32,
    services: Vec<String>,
    namespaces: Vec<String>,
}

/// A network namespace joined to the host.
pub struct Namespace {
    pub name: String,
    /// Its own address, reachable from the host.
    pub ip: String,
}

impl TestNet {
    /// Claims a /24 by putting its `.254` on the loopback interface: one that another test (or
    /// a run that did not clean up) holds is skipped.
    pub fn new() -> Self {
        let pid = std::process::id();
        for attempt in 0..16_000 {
            let id = (pid + attempt) % 16_000;
            let prefix = format!("10.{}.{}", 64 + id / 250, id % 250);
            let claimed = Command::new("ip")
                .args(["addr", "add", &format!("{prefix}.254/32"), "dev", "lo"])
                .output()
                .is_ok_and(|output| output.status.success());
            if claimed {
                // Names come from the claimed /24 too, so a leftover of a killed run (whose
                // address would have stopped this claim) cannot clash with them.
                return Self {
                    services: vec![format!("{prefix}.254")],
                    prefix,
                    tag: id,
                    namespaces: Vec::new(),
                };
            }
        }
        panic!("no free /24 in 10.64.0.0/10 for a test network");
    }

    /// Service address `n` (1 to 63), added to the host's loopback interface.
    pub fn service_ip(&mut self, n: u8) -> String {
        assert!((1..64).contains(&n), "service addresses are .1 to .63");
        let ip = format!("{}.{n}", self.prefix);
        if !self.services.contains(&ip) {
            run("ip", &["addr", "add", &format!("{ip}/32"), "dev", "lo"]);
            self.services.push(ip.clone());
        }
        ip
    }

    /// Namespace `n` (0 to 47) with its veth pair and a default route to the host.
    pub fn namespace(&mut self, n: u8) -> Namespace {
        assert!(n < 48, "namespaces are 0 to 47");
        let name = format!("lifeline-{}-{n}", self.tag);
        // Interface names are at most 15 bytes.
        let (host_side, inside) = (
            format!("llh{}x{n}", self.tag),
            format!("lln{}x{n}", self.tag),
        );
        let base = 64 + 4 * u32::from(n);
        let (host_ip, ip) = (
            format!("{}.{}", self.prefix, base + 1),
            format!("{}.{}", self.prefix, base + 2),
        );
        run("ip", &["netns", "add", &name]);
        self.namespaces.push(name.clone());
        run(
            "ip",
            &[
                "link", "add", &host_side, "type", "veth", "peer", "name", &inside,
            ],
        );
        run("ip", &["link", "set", &inside, "netns", &name]);
        run(
            "ip",
            &["addr", "add", &format!("{host_ip}/30"), "dev", &host_side],
        );
        run("ip", &["link", "set", &host_side, "up"]);
        let namespace = Namespace { name, ip };
        namespace.ip_command(&[
            "addr",
            "add",
            &format!("{}/30", namespace.ip),
            "dev",
            &inside,
        ]);
        namespace.ip_command(&["link", "set", &inside, "up"]);
        namespace.ip_command(&["link", "set", "lo", "up"]);
        namespace.ip_command(&["route", "add", "default", "via", &host_ip]);
        namespace
    }
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and with it the host's end.
        for name in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
        for ip in &self.services {
            let _ = Command::new("ip")
                .args(["addr", "del", &format!("{ip}/32"), "dev", "lo"])
                .status();
        }
    }
}

impl Namespace {
    /// The words that run a program inside the namespace (`ip netns exec NAME`).
    pub fn exec_prefix(&self) -> Vec<String> {
        ["ip", "netns", "exec", &self.name]
            .map(str::to_string)
            .to_vec()
    }

    /// From now on, packets from this namespace to `ip` are dropped (a blackhole route).
    pub fn cut(&self, ip: &str) {
        self.ip_command(&["route", "add", "blackhole", &format!("{ip}/32")]);
    }

    /// Undoes [`cut`](Self::cut).
    pub fn heal(&self, ip: &str) {
        self.ip_command(&["route", "del", "blackhole", &format!("{ip}/32")]);
    }

    fn ip_command(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        run("ip", &all);
    }
}

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
