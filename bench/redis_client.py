"""Bench: the Redis client's own CPU per command, the figure that chose the pinned redis-py.

    .venv/bin/python bench/redis_client.py [--calls 20000] [--rounds 5]
    PYTHONPATH=/tmp/redis-8.1.0 .venv/bin/python bench/redis_client.py   # another version:
        # pip install --target /tmp/redis-8.1.0 redis==8.1.0

A turn sends about 47 Redis commands (rate limits, caches, the live events, the broker's
queue and acknowledgements, the SSE relay's XREAD; `INFO commandstats` around
bench/streaming_overhead.py), so a client's cost per command is multiplied by that.
Prints, per round, the process CPU time (user + system, the socket calls included) of one
GET through the synchronous client, of a two-GET pipeline, and of one GET through the
asyncio client (the SSE relay's); then the median of the rounds. REDIS_URL, default
redis://127.0.0.1:6379/13 (one key, `bench:redis-client`, is written).
"""

import argparse
import asyncio
import os
import statistics
import time

import redis
import redis.asyncio

URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/13"
KEY = "bench:redis-client"


def sync_get(client: redis.Redis, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        client.get(KEY)
    return (time.process_time() - started) / calls * 1e6


def sync_pipeline(client: redis.Redis, calls: int) -> float:
    started = time.process_time()
    for _ in range(calls):
        pipe = client.pipeline(transaction=False)
        pipe.get(KEY)
        pipe.get(KEY)
        pipe.execute()
    return (time.process_time() - started) / calls * 1e6


async def async_get(calls: int) -> float:
    client = redis.asyncio.Redis.from_url(URL)
    try:
        for _ in range(calls // 10):  # the pool's connection made, the code warm
            await client.get(KEY)
        started = time.process_time()
        for _ in range(calls):
            await client.get(KEY)
        return (time.process_time() - started) / calls * 1e6
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    client = redis.Redis.from_url(URL)
    client.set(KEY, "v")
    sync_get(client, args.calls // 10)
    rows: dict[str, list[float]] = {"GET": [], "pipeline of 2 GETs": [], "asyncio GET": []}
    print(f"redis-py {redis.__version__}, {URL}; µs of CPU per call")
    for round_no in range(1, args.rounds + 1):
        rows["GET"].append(sync_get(client, args.calls))
        rows["pipeline of 2 GETs"].append(sync_pipeline(client, args.calls // 2))
        rows["asyncio GET"].append(asyncio.run(async_get(args.calls)))
        print(f"round {round_no}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items()))
    print("median: " + ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in rows.items()))
    client.delete(KEY)


if __name__ == "__main__":
    main()
