#!/usr/bin/python3
"""The write-history client of bench/pg-failover.sh, and the arithmetic on what it recorded.

    pg-writer.py write DSN ACKS [--every 0.01]   insert one row per transaction until SIGTERM;
                                                 each acknowledged id goes to ACKS as
                                                 "id unix_time connected_at" (when its connection
                                                 was opened)
    pg-writer.py first-ack ACKS T [--any]        seconds from T to the first ack after it on a
                                                 connection opened after T (an old backend of a
                                                 killed postmaster may still ack a commit or two)
    pg-writer.py lost ACKS DSN                   acknowledged ids missing on the node at DSN
    pg-writer.py pause ACKS T0 T1                the longest gap between two acks around [T0, T1]
    pg-writer.py json URL PATH                   a field of a JSON answer, e.g. clusters.0.primary
    pg-writer.py events URL                      Lifeline's /failover/history as "kind subject: reason"

Runs on the system python3 with Debian's python3-psycopg2. Every network wait (connect, insert)
goes through a select() with a deadline (a psycopg2 wait callback), so a dead server or a proxy
that holds a connection never stalls the writer for longer than that.
"""

import argparse
import json
import select
import signal
import sys
import time
import urllib.request

CONNECT_TIMEOUT = 1.0  # seconds; libpq's own connect_timeout cannot go below 2 s
QUERY_TIMEOUT = 5.0

_deadline = None


def _wait(conn):
    import psycopg2
    import psycopg2.extensions as ext

    while True:
        state = conn.poll()
        if state == ext.POLL_OK:
            return
        remaining = None if _deadline is None else _deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise psycopg2.OperationalError("timed out (client-side deadline)")
        if state == ext.POLL_READ:
            select.select([conn.fileno()], [], [], remaining)
        elif state == ext.POLL_WRITE:
            select.select([], [conn.fileno()], [], remaining)
        else:
            raise psycopg2.OperationalError(f"bad poll state {state}")


def _within(seconds):
    global _deadline
    _deadline = time.monotonic() + seconds


def write(args):
    import psycopg2
    import psycopg2.extensions as ext

    ext.set_wait_callback(_wait)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    signal.signal(signal.SIGINT, lambda *_: running.__setitem__(0, False))
    acks = open(args.acks, "a", buffering=1)
    errors = 0
    conn = None
    table = False
    next_id = 1
    while running[0]:
        if conn is None:
            try:
                _within(CONNECT_TIMEOUT)
                conn = psycopg2.connect(args.dsn)
                conn.autocommit = True
                connected_at = time.time()
                table = False  # a promoted node may lack it (then every earlier write is lost)
            except Exception as e:  # noqa: BLE001 - any failure means: try again
                errors += 1
                print(f"{time.time():.6f} connect: {str(e).strip()}", file=sys.stderr, flush=True)
                conn = None
                time.sleep(0.01)
                continue
        try:
            cur = conn.cursor()
            if not table:
                _within(QUERY_TIMEOUT)
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS history (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"
                )
                table = True
            _within(QUERY_TIMEOUT)
            cur.execute("INSERT INTO history (id) VALUES (%s)", (next_id,))
            acks.write(f"{next_id} {time.time():.6f} {connected_at:.6f}\n")
        except Exception as e:  # noqa: BLE001 - the outcome is unknown: not acknowledged
            errors += 1
            print(f"{time.time():.6f} write {next_id}: {str(e).strip()}", file=sys.stderr, flush=True)
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass
            conn = None
        next_id += 1
        time.sleep(args.every)
    acks.close()
    print(f"{time.time():.6f} stopped after id {next_id - 1}, {errors} errors", file=sys.stderr)


def read_acks(path, connections=False):
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                row = (int(parts[0]), float(parts[1]), float(parts[2]))
                out.append(row if connections else row[:2])
    return out


def first_ack(args):
    after = [t for _, t, opened in read_acks(args.acks, True) if t > args.t and (args.any or opened > args.t)]
    print(f"{min(after) - args.t:.3f}" if after else "none")


def lost(args):
    import psycopg2

    acked = {i for i, _ in read_acks(args.acks)}
    deadline = time.monotonic() + 15  # the node may still be starting
    while True:
        try:
            conn = psycopg2.connect(args.dsn, connect_timeout=2)
            break
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    cur = conn.cursor()
    try:
        cur.execute("SELECT id FROM history")
        stored = {row[0] for row in cur.fetchall()}
    except psycopg2.errors.UndefinedTable:
        stored = set()  # the new primary never got the table: every write is lost
        print("the table history does not exist there", file=sys.stderr)
    missing = sorted(acked - stored)
    print(f"{len(missing)} {len(acked)}")
    if missing:
        print(f"missing ids: {missing[:20]}{' ...' if len(missing) > 20 else ''}", file=sys.stderr)


def pause(args):
    times = sorted(t for _, t in read_acks(args.acks))
    if not any(t > args.t1 for t in times):
        print("none")  # writes never resumed
        return
    # every gap between consecutive acks that overlaps the operation (with a second of margin)
    gaps = [b - a for a, b in zip(times, times[1:]) if b >= args.t0 and a <= args.t1 + 1.0]
    print(f"{max(gaps):.3f}" if gaps else "none")


def get_json(args):
    try:
        with urllib.request.urlopen(args.url, timeout=2) as response:
            value = json.load(response)
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
        with urllib.request.urlopen(args.url, timeout=2) as response:
            history = json.load(response)
    except Exception as e:  # noqa: BLE001
        print(f"(cannot read {args.url}: {e})")
        return
    for event in history.get("events", []):
        print(f"{event.get('kind')} {event.get('subject')}: {event.get('reason')}")


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("write")
    p.add_argument("dsn")
    p.add_argument("acks")
    p.add_argument("--every", type=float, default=0.01)
    p.set_defaults(run=write)
    p = sub.add_parser("first-ack")
    p.add_argument("acks")
    p.add_argument("t", type=float)
    p.add_argument("--any", action="store_true", help="also acks on connections opened before T")
    p.set_defaults(run=first_ack)
    p = sub.add_parser("lost")
    p.add_argument("acks")
    p.add_argument("dsn")
    p.set_defaults(run=lost)
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
