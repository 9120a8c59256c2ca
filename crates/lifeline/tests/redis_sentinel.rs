//! The Sentinel-compatible listener, used by real Sentinel-aware client libraries through a
//! failover: redis-py's `Sentinel` (Debian's python3-redis) writing through `master_for`, and
//! the `redis` crate subscribed to `+switch-master`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::redis::RedisSetup;
use futures_util::StreamExt;
use lifeline_testkit::redis::python_with_redis_py;
use lifeline_testkit::wait;

/// Discovers the master and its replicas, then sets `p<i>` until stdin closes, through
/// `master_for` (which finds the master again after every connection error), printing
/// `ack <i> <master port>` for each acknowledged write.
const CLIENT: &str = r#"
import os, sys, threading, time
from redis.sentinel import Sentinel, MasterNotFoundError
from redis.exceptions import ConnectionError, TimeoutError, ReadOnlyError

sentinel = Sentinel([("127.0.0.1", int(sys.argv[1]))], socket_timeout=1.0)
host, port = sentinel.discover_master("cache")
print("master", host, port, flush=True)
print("replicas", " ".join(str(p) for _, p in sentinel.discover_slaves("cache")), flush=True)
master = sentinel.master_for("cache", password=os.environ["REDIS_PASSWORD"], socket_timeout=1.0)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
i = 0
while not done.is_set():
    i += 1
    try:
        master.set("p%d" % i, i)
        print("ack", i, master.connection_pool.get_master_address()[1], flush=True)
    except (ConnectionError, TimeoutError, ReadOnlyError, MasterNotFoundError) as error:
        print("error", i, type(error).__name__, flush=True)
        time.sleep(0.05)
    time.sleep(0.005)
"#;

/// The client's process and every line it printed.
struct PyClient {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl PyClient {
    fn start(setup: &RedisSetup, script: &std::path::Path) -> Self {
        let mut child = Command::new(python_with_redis_py())
            .arg(script)
            .arg(setup.sentinel_port.to_string())
            .env("REDIS_PASSWORD", setup.group.password())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start python3");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// The acknowledged writes: key number and the master port redis-py wrote to.
    fn acks(&self) -> Vec<(u64, u16)> {
        self.lines()
            .iter()
            .filter_map(|line| {
                let mut words = line.strip_prefix("ack ")?.split(' ');
                Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
            })
            .collect()
    }

    /// Closes its stdin and waits for it to exit.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let status = self.child.wait().expect("python3 ends");
        assert!(status.success(), "the client failed: {:?}", self.lines());
    }
}

impl Drop for PyClient {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[tokio::test]
async fn sentinel_clients_find_the_new_master_through_a_failover() {
    let mut setup = RedisSetup::start("", "").await;
    let script = setup.daemon.dir().join("sentinel-client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let ports: Vec<u16> = setup.group.nodes().iter().map(|n| n.port).collect();

    // A subscriber, as Jedis and go-redis keep one to hear of a new master at once.
    let url = format!("redis://127.0.0.1:{}/", setup.sentinel_port);
    let mut pubsub = redis::Client::open(url)
        .unwrap()
        .get_async_pubsub()
        .await
        .unwrap();
    pubsub.subscribe("+switch-master").await.unwrap();
    let mut switches = pubsub.into_on_message();

    let client = PyClient::start(&setup, &script);
    let (_, _) = wait::until(
        "writes through redis-py",
        Duration::from_secs(15),
        || async { (client.acks().len() > 20).then_some(()) },
    )
    .await;
    let lines = client.lines();
    assert_eq!(
        lines[0],
        format!("master 127.0.0.1 {}", ports[0]),
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        format!("replicas {} {}", ports[1], ports[2]),
        "{lines:?}"
    );
    assert!(client.acks().iter().all(|(_, port)| *port == ports[0]));

    setup.group.kill9(0);
    let status = setup.wait_promoted(0, Duration::from_secs(10)).await;
    let promoted = status["primary"].as_str().unwrap().to_string();
    let new_port = setup.group.nodes()[setup.index(&promoted)].port;
    wait::until(
        "redis-py writing to the new master",
        Duration::from_secs(20),
        || async {
            client
                .acks()
                .iter()
                .filter(|(_, port)| *port == new_port)
                .nth(20)
                .map(|_| ())
        },
    )
    .await;
    let message = tokio::time::timeout(Duration::from_secs(5), switches.next())
        .await
        .expect("a +switch-master message")
        .expect("the subscription is open");
    let payload: String = message.get_payload().unwrap();
    assert_eq!(message.get_channel_name(), "+switch-master");
    assert_eq!(
        payload,
        format!("cache 127.0.0.1 {} 127.0.0.1 {new_port}", ports[0])
    );
    let acks = client.acks();
    client.stop();
    // Everything acknowledged by the new master is on it.
    let on_new: Vec<u64> = acks
        .iter()
        .filter(|(_, port)| *port == new_port)
        .map(|(n, _)| *n)
        .collect();
    let mut node = setup.group.client(setup.index(&promoted)).await.unwrap();
    let mut pipe = redis::pipe();
    for n in &on_new {
        pipe.get(format!("p{n}"));
    }
    let values: Vec<Option<String>> = pipe.query_async(&mut node).await.unwrap();
    let missing: Vec<u64> = on_new
        .iter()
        .zip(values)
        .filter(|(n, value)| value.as_deref() != Some(n.to_string().as_str()))
        .map(|(n, _)| *n)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged by {promoted}, not on it: {missing:?}"
    );
}

#[tokio::test]
async fn the_listener_answers_as_a_sentinel_and_refuses_what_it_is_not() {
    let setup = RedisSetup::start("", "").await;
    let url = format!("redis://127.0.0.1:{}/", setup.sentinel_port);
    let mut connection = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let address: (String, u16) = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg("cache")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        address,
        ("127.0.0.1".to_string(), setup.group.nodes()[0].port)
    );
    let unknown: Option<Vec<String>> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg("other")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(unknown, None);
    let write: redis::RedisResult<()> = redis::cmd("SET")
        .arg("a")
        .arg("b")
        .query_async(&mut connection)
        .await;
    let error = write.unwrap_err().to_string();
    assert!(error.contains("unknown command 'SET'"), "{error}");
    // Garbage gets an error and the connection closes; the listener keeps serving others.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", setup.sentinel_port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(b"*1\r\n:7\r\n").await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("-ERR Protocol error"), "{answer}");
    let pong: String = redis::cmd("PING")
        .query_async(&mut connection)
        .await
        .unwrap();
    assert_eq!(pong, "PONG");
}
