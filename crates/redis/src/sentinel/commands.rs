//! The answers to the Sentinel commands that clients send, from what Lifeline knows of one
//! master (a [`Discovery`]). Pure: a command and the view in, a reply out.

use super::Discovery;
use super::resp::Reply;

/// Sentinel's answer to `command` (its words, at least one), outside of subscribed mode.
/// SUBSCRIBE and friends and QUIT change the connection, and are its to answer.
pub fn answer(name: &str, view: &Discovery, command: &[String]) -> Reply {
    let word = |i: usize| command.get(i).map(|w| w.to_ascii_lowercase());
    match word(0).unwrap_or_default().as_str() {
        "ping" => Reply::Simple("PONG".into()),
        "role" => Reply::Array(vec![
            Reply::bulk("sentinel"),
            Reply::Array(vec![Reply::bulk(name)]),
        ]),
        "info" => Reply::bulk(info(name, view)),
        "client" => match word(1).as_deref() {
            Some("setname" | "setinfo") => Reply::ok(),
            Some("getname") => Reply::Bulk(None),
            _ => unknown_subcommand(command),
        },
        "auth" => Reply::Error(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?"
                .into(),
        ),
        "sentinel" => sentinel(name, view, command),
        _ => Reply::Error(format!(
            "ERR unknown command '{}', with args beginning with: {}",
            command.first().map_or("", String::as_str),
            args(command)
        )),
    }
}

/// `SENTINEL <subcommand> ...`.
fn sentinel(name: &str, view: &Discovery, command: &[String]) -> Reply {
    let sub = command.get(1).map(|w| w.to_ascii_lowercase());
    let asked = command.get(2).map(String::as_str);
    let known = asked == Some(name);
    match (sub.as_deref(), asked) {
        (Some("get-master-addr-by-name"), Some(_)) => match view.announced().filter(|_| known) {
            Some(master) => Reply::Array(vec![
                Reply::bulk(master.host.clone()),
                Reply::bulk(master.port.to_string()),
            ]),
            None => Reply::Bulk(None),
        },
        (Some("masters"), _) => Reply::Array(master(name, view).into_iter().collect()),
        (Some("master"), Some(_)) if known => master(name, view).unwrap_or_else(no_such_master),
        (Some("replicas" | "slaves"), Some(_)) if known => replicas(view),
        (Some("sentinels"), Some(_)) if known => Reply::Array(Vec::new()),
        (Some("master" | "replicas" | "slaves" | "sentinels"), Some(_)) => no_such_master(),
        (Some("myid"), _) => Reply::bulk(MYID),
        (Some("ckquorum"), Some(_)) if known => Reply::Simple(
            "OK 1 usable Sentinels. Quorum and failover authorization can be reached".into(),
        ),
        _ => unknown_subcommand(command),
    }
}

/// Lifeline's Sentinel id: one per listener is enough, as clients only compare them.
const MYID: &str = "11fe11fe11fe11fe11fe11fe11fe11fe11fe11fe";

/// The master's entry, as `SENTINEL masters` lists it; `None` before any master is known.
fn master(name: &str, view: &Discovery) -> Option<Reply> {
    let master = view.announced()?;
    // While the writer holds (a failover runs), the last master is down, as Sentinel says of
    // a master it is failing over.
    let flags = if view.master.is_some() {
        "master"
    } else {
        "s_down,o_down,master"
    };
    Some(Reply::pairs([
        ("name", name.to_string()),
        ("ip", master.host.clone()),
        ("port", master.port.to_string()),
        ("runid", String::new()),
        ("flags", flags.to_string()),
        ("link-pending-commands", "0".into()),
        ("link-refcount", "1".into()),
        ("last-ping-sent", "0".into()),
        ("last-ok-ping-reply", "0".into()),
        ("last-ping-reply", "0".into()),
        ("down-after-milliseconds", view.down_after_ms.to_string()),
        ("info-refresh", "0".into()),
        ("role-reported", "master".into()),
        ("role-reported-time", "0".into()),
        ("config-epoch", "0".into()),
        // Every replica known, up or down, as Sentinel counts them (and as INFO says).
        ("num-slaves", view.replicas.len().to_string()),
        ("num-other-sentinels", "0".into()),
        ("quorum", "1".into()),
        ("failover-timeout", "10000".into()),
        ("parallel-syncs", "1".into()),
    ]))
}

/// `SENTINEL replicas`: every other node, down unless it serves reads.
fn replicas(view: &Discovery) -> Reply {
    let master = view.announced();
    Reply::Array(
        view.replicas
            .iter()
            .map(|replica| {
                let flags = if replica.healthy {
                    "slave"
                } else {
                    "s_down,slave"
                };
                let link = if replica.healthy { "ok" } else { "err" };
                Reply::pairs([
                    (
                        "name",
                        format!("{}:{}", replica.address.host, replica.address.port),
                    ),
                    ("ip", replica.address.host.clone()),
                    ("port", replica.address.port.to_string()),
                    ("runid", String::new()),
                    ("flags", flags.to_string()),
                    ("role-reported", "slave".into()),
                    ("master-link-status", link.to_string()),
                    // Sentinel's words for a master it does not know.
                    (
                        "master-host",
                        master.map_or_else(|| "?".into(), |m| m.host.clone()),
                    ),
                    (
                        "master-port",
                        master.map_or_else(|| "0".into(), |m| m.port.to_string()),
                    ),
                    ("slave-priority", "100".into()),
                    ("slave-repl-offset", "0".into()),
                ])
            })
            .collect(),
    )
}

/// `INFO`, as far as it describes a Sentinel.
fn info(name: &str, view: &Discovery) -> String {
    let (status, address) = match (view.announced(), &view.master) {
        (Some(m), Some(_)) => ("ok", format!("{}:{}", m.host, m.port)),
        (Some(m), None) => ("odown", format!("{}:{}", m.host, m.port)),
        (None, _) => ("odown", String::new()),
    };
    format!(
        "# Server\r\nredis_mode:sentinel\r\n\r\n# Sentinel\r\nsentinel_masters:1\r\n\
         sentinel_tilt:0\r\nsentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\n\
         master0:name={name},status={status},address={address},slaves={},sentinels=1\r\n",
        view.replicas.len()
    )
}

fn no_such_master() -> Reply {
    Reply::Error("ERR No such master with that name".into())
}

fn unknown_subcommand(command: &[String]) -> Reply {
    Reply::Error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        command.get(1).map_or("", String::as_str),
        command[0].to_ascii_uppercase()
    ))
}

fn args(command: &[String]) -> String {
    command
        .iter()
        .skip(1)
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentinel::{Address, ReplicaState};

    fn view(master: bool) -> Discovery {
        let r1 = Address {
            host: "127.0.0.1".into(),
            port: 6379,
        };
        Discovery {
            master: master.then(|| r1.clone()),
            last_master: Some(r1),
            replicas: vec![
                ReplicaState {
                    address: Address {
                        host: "127.0.0.1".into(),
                        port: 6380,
                    },
                    healthy: true,
                },
                ReplicaState {
                    address: Address {
                        host: "127.0.0.1".into(),
                        port: 6381,
                    },
                    healthy: false,
                },
            ],
            down_after_ms: 3000,
        }
    }

    fn ask(view: &Discovery, words: &str) -> Reply {
        let command: Vec<String> = words.split(' ').map(str::to_string).collect();
        answer("cache", view, &command)
    }

    fn field<'a>(entry: &'a Reply, key: &str) -> &'a str {
        let Reply::Array(items) = entry else {
            panic!("{entry:?}")
        };
        let at = items
            .iter()
            .position(|i| *i == Reply::bulk(key))
            .unwrap_or_else(|| panic!("no {key}"));
        match &items[at + 1] {
            Reply::Bulk(Some(value)) => value,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_master_by_name() {
        let up = view(true);
        assert_eq!(
            ask(&up, "SENTINEL get-master-addr-by-name cache"),
            Reply::Array(vec![Reply::bulk("127.0.0.1"), Reply::bulk("6379")])
        );
        assert_eq!(
            ask(&up, "sentinel get-master-addr-by-name other"),
            Reply::Bulk(None)
        );
        let Reply::Array(masters) = ask(&up, "SENTINEL masters") else {
            panic!()
        };
        assert_eq!(field(&masters[0], "name"), "cache");
        assert_eq!(field(&masters[0], "flags"), "master");
        assert_eq!(field(&masters[0], "num-slaves"), "2");
        // Failing over: the last master, down.
        let failing = view(false);
        assert_eq!(
            field(&ask(&failing, "SENTINEL master cache"), "flags"),
            "s_down,o_down,master"
        );
        assert_eq!(
            ask(&failing, "SENTINEL master nope"),
            Reply::Error("ERR No such master with that name".into())
        );
    }

    #[test]
    fn replicas_and_the_rest() {
        let up = view(true);
        let Reply::Array(replicas) = ask(&up, "SENTINEL replicas cache") else {
            panic!()
        };
        let flags: Vec<&str> = replicas.iter().map(|r| field(r, "flags")).collect();
        assert_eq!(flags, ["slave", "s_down,slave"]);
        assert_eq!(field(&replicas[0], "master-port"), "6379");
        assert_eq!(
            ask(&up, "SENTINEL slaves cache"),
            ask(&up, "SENTINEL replicas cache")
        );
        assert_eq!(
            ask(&up, "SENTINEL sentinels cache"),
            Reply::Array(Vec::new())
        );
        assert_eq!(
            ask(&up, "ROLE"),
            Reply::Array(vec![
                Reply::bulk("sentinel"),
                Reply::Array(vec![Reply::bulk("cache")])
            ])
        );
        assert_eq!(ask(&up, "PING"), Reply::Simple("PONG".into()));
        assert!(
            matches!(ask(&up, "SET a b"), Reply::Error(e) if e.starts_with("ERR unknown command 'SET'"))
        );
    }
}
