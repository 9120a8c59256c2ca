//! The Sentinel-compatible discovery listener: it answers the commands that Sentinel-aware
//! clients (redis-py's `Sentinel`, Jedis, go-redis's `FailoverClient`) send to find a master,
//! under the cluster's name as the master's name, and publishes `+switch-master` to their
//! subscriptions when the master changes, so that they can point at Lifeline unchanged.
//!
//! - `resp`: the protocol, commands in and replies out.
//! - `commands`: each command's answer from a [`Discovery`], purely.
//!
//! It announces what the cluster's manager decided (the writer and reader routes), and never
//! decides anything itself. It takes no `AUTH`, as a Sentinel without `requirepass` does:
//! it tells where the master is, not how to log in.

mod commands;
mod resp;

use std::future::Future;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinSet;

use self::resp::{ReadError, Reply, read_command};

/// The channel Sentinel announces a new master on.
const SWITCH_MASTER: &str = "+switch-master";
/// Connections beyond this many are closed at once: a client pool gone wrong cannot take
/// every file descriptor of the daemon that also carries the data plane.
const MAX_CONNECTIONS: usize = 1024;

/// What the listener tells clients about one master.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovery {
    /// The master, while the writer routes to it; `None` while a failover holds the writer.
    pub master: Option<Address>,
    /// The last master announced: a Sentinel goes on naming a master it is failing over.
    pub last_master: Option<Address>,
    /// Every other node, healthy when it serves reads.
    pub replicas: Vec<ReplicaState>,
    /// How long a master may fail checks before it counts as down (Sentinel's
    /// `down-after-milliseconds`, as clients read it).
    pub down_after_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    pub host: String,
    pub port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaState {
    pub address: Address,
    pub healthy: bool,
}

// === impl Discovery ===

impl Discovery {
    /// The master a client is told about: the current one, or the last while none is.
    pub fn announced(&self) -> Option<&Address> {
        self.master.as_ref().or(self.last_master.as_ref())
    }
}

// === impl Address ===

impl Address {
    /// `host:port` as the routes write it.
    pub fn parse(address: &str) -> Option<Self> {
        let (host, port) = address.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(Self {
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    }
}

/// Serves the listener of master `name` until `shutdown` resolves.
pub async fn serve(
    name: String,
    listener: TcpListener,
    view: watch::Receiver<Discovery>,
    shutdown: impl Future<Output = ()>,
) {
    let (switches, _) = broadcast::channel(16);
    let announcer = tokio::spawn(announce_switches(
        name.clone(),
        view.clone(),
        switches.clone(),
    ));
    // Dropped with the listener: no connection outlives it.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) if connections.len() >= MAX_CONNECTIONS => {
                    tracing::warn!(master = %name, %peer, "sentinel listener: {MAX_CONNECTIONS} connections open, one more refused");
                    drop(stream);
                }
                Ok((stream, _)) => {
                    let connection = Connection {
                        name: name.clone(),
                        view: view.clone(),
                        switches: switches.subscribe(),
                    };
                    connections.spawn(connection.run(stream));
                }
                // Out of file descriptors, say: the next accept may succeed.
                Err(error) => {
                    tracing::warn!(master = %name, %error, "sentinel listener: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    announcer.abort();
}

/// Publishes `<name> <old ip> <old port> <new ip> <new port>` whenever the master changes.
async fn announce_switches(
    name: String,
    mut view: watch::Receiver<Discovery>,
    switches: broadcast::Sender<String>,
) {
    let mut last = view.borrow_and_update().master.clone();
    while view.changed().await.is_ok() {
        let Some(now) = view.borrow_and_update().master.clone() else {
            continue;
        };
        if let Some(old) = last.as_ref().filter(|old| **old != now) {
            let message = format!("{name} {} {} {} {}", old.host, old.port, now.host, now.port);
            tracing::info!(master = %name, %message, "sentinel listener: +switch-master");
            // Nobody subscribed is no error.
            let _ = switches.send(message);
        }
        last = Some(now);
    }
}

/// One client's connection.
struct Connection {
    name: String,
    view: watch::Receiver<Discovery>,
    switches: broadcast::Receiver<String>,
}

/// A client's subscriptions: channels and patterns, in the order made.
#[derive(Default)]
struct Subscriptions {
    channels: Vec<String>,
    patterns: Vec<String>,
}

impl Connection {
    async fn run(mut self, stream: TcpStream) {
        let (read, mut write) = stream.into_split();
        // Commands are read apart, so a subscribed client gets messages while it sends nothing.
        let (commands_tx, mut commands) = mpsc::channel(16);
        let reader = tokio::spawn(async move {
            let mut read = BufReader::new(read);
            loop {
                let command = read_command(&mut read).await;
                let end = command.is_err();
                if commands_tx.send(command).await.is_err() || end {
                    return;
                }
            }
        });
        let mut subscriptions = Subscriptions::default();
        loop {
            let mut out = Vec::new();
            let subscribed = subscriptions.count() > 0;
            let keep = tokio::select! {
                command = commands.recv() => match command {
                    Some(Ok(words)) => {
                        let keep = self.execute(&words, &mut subscriptions, &mut out);
                        if !subscribed && subscriptions.count() > 0 {
                            // From now on: a switch announced before the client subscribed
                            // is not news to it (it asked for the master since).
                            self.switches = self.switches.resubscribe();
                        }
                        keep
                    }
                    Some(Err(ReadError::Protocol(why))) => {
                        Reply::Error(format!("ERR Protocol error: {why}")).encode(&mut out);
                        false
                    }
                    Some(Err(ReadError::Closed)) | None => false,
                },
                message = self.switches.recv(), if subscribed => match message {
                    Ok(message) => {
                        subscriptions.deliver(SWITCH_MASTER, &message, &mut out);
                        true
                    }
                    // Only the latest master matters, and it is in the next message.
                    Err(RecvError::Lagged(_)) => true,
                    // The listener is shutting down.
                    Err(RecvError::Closed) => false,
                }
            };
            if !out.is_empty() && write.write_all(&out).await.is_err() {
                break;
            }
            if !keep {
                break;
            }
        }
        reader.abort();
    }

    /// Answers one command into `out`; `false` once the connection should close.
    fn execute(&self, words: &[String], subs: &mut Subscriptions, out: &mut Vec<u8>) -> bool {
        let command = words[0].to_ascii_lowercase();
        let rest = &words[1..];
        match command.as_str() {
            "subscribe" | "psubscribe" if rest.is_empty() => {
                wrong_arguments(&command).encode(out);
            }
            "subscribe" => subs.subscribe(rest, false, out),
            "psubscribe" => subs.subscribe(rest, true, out),
            "unsubscribe" => subs.unsubscribe(rest, false, out),
            "punsubscribe" => subs.unsubscribe(rest, true, out),
            "quit" => {
                Reply::ok().encode(out);
                return false;
            }
            "ping" if subs.count() > 0 => {
                Reply::Array(vec![
                    Reply::bulk("pong"),
                    Reply::bulk(rest.first().cloned().unwrap_or_default()),
                ])
                .encode(out);
            }
            _ if subs.count() > 0 => Reply::Error(format!(
                "ERR Can't execute '{command}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / \
                 QUIT / RESET are allowed in this context"
            ))
            .encode(out),
            _ => {
                let view = self.view.borrow().clone();
                commands::answer(&self.name, &view, words).encode(out);
            }
        }
        true
    }
}

fn wrong_arguments(command: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{command}' command"
    ))
}

// === impl Subscriptions ===

impl Subscriptions {
    fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    fn subscribe(&mut self, names: &[String], pattern: bool, out: &mut Vec<u8>) {
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        for name in names {
            let list = self.list(pattern);
            if !list.contains(name) {
                list.push(name.clone());
            }
            self.confirm(kind, Some(name), out);
        }
    }

    /// Without names: from every one, as Redis does.
    fn unsubscribe(&mut self, names: &[String], pattern: bool, out: &mut Vec<u8>) {
        let kind = if pattern {
            "punsubscribe"
        } else {
            "unsubscribe"
        };
        let names: Vec<String> = if names.is_empty() {
            std::mem::take(self.list(pattern))
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            self.confirm(kind, None, out);
        }
        for name in names {
            self.list(pattern).retain(|n| *n != name);
            self.confirm(kind, Some(&name), out);
        }
    }

    fn list(&mut self, pattern: bool) -> &mut Vec<String> {
        if pattern {
            &mut self.patterns
        } else {
            &mut self.channels
        }
    }

    fn confirm(&self, kind: &str, name: Option<&String>, out: &mut Vec<u8>) {
        Reply::Array(vec![
            Reply::bulk(kind),
            Reply::Bulk(name.cloned()),
            Reply::Integer(i64::try_from(self.count()).unwrap_or(i64::MAX)),
        ])
        .encode(out);
    }

    /// `message` on `channel` to every subscription that matches it.
    fn deliver(&self, channel: &str, message: &str, out: &mut Vec<u8>) {
        if self.channels.iter().any(|c| c == channel) {
            Reply::Array(vec![
                Reply::bulk("message"),
                Reply::bulk(channel),
                Reply::bulk(message),
            ])
            .encode(out);
        }
        for pattern in self.patterns.iter().filter(|p| glob(p, channel)) {
            Reply::Array(vec![
                Reply::bulk("pmessage"),
                Reply::bulk(pattern.clone()),
                Reply::bulk(channel),
                Reply::bulk(message),
            ])
            .encode(out);
        }
    }
}

/// Redis's pattern matching, as far as subscriptions use it: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_redis_does() {
        assert!(glob("*", "+switch-master"));
        assert!(glob("+switch-*", "+switch-master"));
        assert!(glob("+sw?tch-master", "+switch-master"));
        assert!(!glob("+sdown", "+switch-master"));
        assert!(!glob("+switch-master?", "+switch-master"));
    }

    #[test]
    fn addresses_of_the_routes() {
        assert_eq!(
            Address::parse("127.0.0.1:6379"),
            Some(Address {
                host: "127.0.0.1".into(),
                port: 6379
            })
        );
        assert_eq!(Address::parse("[::1]:6380").unwrap().host, "::1");
        assert_eq!(Address::parse("nowhere"), None);
    }
}
