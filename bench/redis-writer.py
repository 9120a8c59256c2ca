#!/usr/bin/python3
"""The write-history client of bench/redis-failover.sh, and the arithmetic on what it recorded.

    redis-writer.py writer sentinel PORT... --acks ACKS   SET k<i> <i> every 10 ms until SIGTERM,
                                                          through Sentinel discovery (service
                                                          "cache" on 127.0.0.1:PORT...)
    redis-writer.py writer direct HOST:PORT --acks ACKS   the same on a plain client to HOST:PORT
                                                          (Lifeline's writer endpoint)
        each acknowledged i goes to ACKS as "i sent_at acked_at" (unix times); on any error the
        connection is dropped and the next write opens a new one
    redis-writer.py lost HOST:PORT ACKS          "lost acked": acknowledged keys missing (or with
                                                 another value) on the node at HOST:PORT
    redis-writer.py first-ack ACKS T             seconds from T to the first ack of a write sent
                                                 after T (a dead master cannot ack it), or "none"
    redis-writer.py pause ACKS T0 T1             the longest gap between two acks around [T0, T1]
    redis-writer.py json URL PATH                a field of a JSON answer, e.g. clusters.0.primary
    redis-writer.py events URL                   Lifeline's /failover/history as "kind subject: reason"

Runs on the system python3 with Debian's python3-redis (redis-py 4.3.4). The password comes from
$REDIS_PASSWORD, never from the command line.
"""

import argparse
import json
import os
import signal
import sys
import time
import urllib.request

SERVICE = "cache"
TIMEOUT = 1.0  # seconds, for connecting and for each command


def split_address(address):
    host, port = address.rsplit(":", 1)
    return host, int(port)


def writer(args):
    import redis
    from redis.sentinel import Sentinel

    password = os.environ["REDIS_PASSWORD"]
    timeouts = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    if args.how == "sentinel":
        # The Sentinels themselves have no password: sentinel_kwargs gets only the timeouts.
        sentinel = Sentinel([("127.0.0.1", int(port)) for port in args.targets], **timeouts)
        client = sentinel.master_for(SERVICE, password=password, **timeouts)
    else:
        host, port = split_address(args.targets[0])
        client = redis.Redis(host=host, port=port, password=password, **timeouts)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    acks = open(args.acks, "a", buffering=1)
    errors = 0
    i = 1
    while running[0]:
        sent = time.time()
        try:
            if client.set(f"k{i}", str(i)) is True:
                acks.write(f"{i} {sent:.6f} {time.time():.6f}\n")
        except Exception as e:  # noqa: BLE001 - the outcome is unknown: not acknowledged
            errors += 1
            print(f"{time.time():.6f} write {i}: {type(e).__name__}: {str(e).strip()}", file=sys.stderr, flush=True)
            # A fresh connection next time (through Sentinel: a fresh look-up of the master).
            client.connection_pool.disconnect()
        i += 1
        time.sleep(args.every)
    acks.close()
    print(f"{time.time():.6f} stopped after key {i - 1}, {errors} errors", file=sys.stderr)


def read_acks(path):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.append((int(parts[0]), float(parts[1]), float(parts[2])))
    return out


def lost(args):
    import redis

    host, port = split_address(args.address)
    client = redis.Redis(host=host, port=port, password=os.environ["REDIS_PASSWORD"], socket_timeout=5)
    deadline = time.monotonic() + 15
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    acked = [i for i, _, _ in read_acks(args.acks)]
    missing = []
    for start in range(0, len(acked), 1000):
        chunk = acked[start : start + 1000]
        values = client.mget([f"k{i}" for i in chunk])
        missing += [i for i, value in zip(chunk, values) if value != str(i).encode()]
    print(f"{len(missing)} {len(acked)}")
    if missing:
        print(f"missing keys: {missing[:20]}{' ...' if len(missing) > 20 else ''}", file=sys.stderr)


def first_ack(args):
    after = [acked for _, sent, acked in read_acks(args.acks) if sent > args.t]
    print(f"{min(after) - args.t:.3f}" if after else "none")


def pause(args):
    times = sorted(acked for _, _, acked in read_acks(args.acks))
    if not any(t > args.t1 for t in times):
        print("none")  # writes never resumed
        return
    # every gap between consecutive acks that overlaps the operation (with a second of margin)
    gaps = [b - a for a, b in zip(times, times[1:]) if b >= args.t0 and a <= args.t1 + 1.0]
    print(f"{max(gaps):.3f}" if gaps else "none")


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def get_json(args):
    try:
        value = fetch_json(args.url)
    except Exception:  # noqa: BLE001
        print("")
        return
    for key in args.path.split(".") if args.path else []:
        try:
            value = value[int(key)] if isinstance(value, list) else value[key]
        except (KeyError, IndexError, ValueError, TypeError):
            value = ""
            break
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))


def events(args):
    try:
        history = fetch_json(args.url)
    except Exception as e:  # noqa: BLE001
        print(f"(cannot read {args.url}: {e})")
        return
    for event in history.get("events", []):
        print(f"{event.get('kind')} {event.get('subject')}: {event.get('reason')}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("writer")
    p.add_argument("how", choices=["sentinel", "direct"])
    p.add_argument("targets", nargs="+", help="Sentinel ports, or the HOST:PORT to write to")
    p.add_argument("--acks", required=True)
    p.add_argument("--every", type=float, default=0.01)
    p.set_defaults(run=writer)
    p = sub.add_parser("lost")
    p.add_argument("address")
    p.add_argument("acks")
    p.set_defaults(run=lost)
    p = sub.add_parser("first-ack")
    p.add_argument("acks")
    p.add_argument("t", type=float)
    p.set_defaults(run=first_ack)
    p = sub.add_parser("pause")
    p.add_argument("acks")
    p.add_argument("t0", type=float)
    p.add_argument("t1", type=float)
    p.set_defaults(run=pause)
    p = sub.add_parser("json")
    p.add_argument("url")
    p.add_argument("path", nargs="?", default="")
    p.set_defaults(run=get_json)
    p = sub.add_parser("events")
    p.add_argument("url")
    p.set_defaults(run=events)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
