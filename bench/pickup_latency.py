"""Pickup latency: a staff member's message → the customer's SSE stream shows it.

Two uvicorn web processes serve the customers' streams (half on each); the staff send runs
in this process through the same service the inbox calls (`staff_message_send`: Postgres
transaction, then the event published on commit), so every event crosses processes:
this one → Redis Streams → the web process → the customer's HTTP stream. Printed beside
a direct Redis publish (XADD) → read (XREAD BLOCK on another connection), the floor of
any event bus. Quotes p50/p99 and the ratio of the medians. Target: p50 ≤ 100 ms.

    .venv/bin/python bench/pickup_latency.py [--samples 200] [--conversations 20]

Needs Postgres (BENCH_DATABASE_URL, default .../chatdesk_handoff_bench, created and
migrated) and Redis (BENCH_REDIS_URL, default REDIS_URL or db 3; not flushed).
"""

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database_prepare, pct, wait_ready  # noqa: E402

DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_handoff_bench"
)
REDIS_URL = os.environ.get(
    "BENCH_REDIS_URL", os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/3")
)
LOG_DIR = ROOT / "test-artifacts"


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:<44} n={len(values):<4} p50={statistics.median(values) * 1000:7.2f} ms  "
        f"p99={pct(values, 99) * 1000:7.2f} ms"
    )


def start_web(env: dict, port: int) -> subprocess.Popen:
    log = open(LOG_DIR / f"bench-pickup-uvicorn-{port}.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "chatbot.asgi:application",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def direct_redis(samples: int) -> list[float]:
    """XADD on one connection → XREAD BLOCK on another: the floor of any Redis event bus."""
    import redis

    writer, reader = redis.Redis.from_url(REDIS_URL), redis.Redis.from_url(REDIS_URL)
    key = "chatdesk:bench:pickup-direct"
    writer.delete(key)
    results: list[float] = []
    sent_at: dict[str, float] = {}
    ready, done = threading.Event(), threading.Event()

    def read():
        last = "$"
        ready.set()
        while len(results) < samples:
            for _key, entries in reader.xread({key: last}, block=1000) or []:
                for entry_id, fields in entries:
                    last = entry_id
                    results.append(time.perf_counter() - sent_at[fields[b"n"].decode()])
        done.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait()
    time.sleep(0.2)  # the reader is blocked in XREAD
    for i in range(samples):
        sent_at[str(i)] = time.perf_counter()
        writer.xadd(key, {"n": str(i), "d": json.dumps({"content": "x" * 40})})
        time.sleep(0.01)
    done.wait(30)
    writer.delete(key)
    return results


async def through_chatdesk(servers: list[str], setup: dict, samples: int) -> list[float]:
    from conversations.models import Conversation
    from conversations.services import staff_message_send

    arrived: dict[str, float] = {}
    opened = 0
    all_open = asyncio.Event()

    async def listen(client: httpx.AsyncClient, base: str, conversation_id: str, token: str):
        nonlocal opened
        url = f"{base}/api/v1/conversations/{conversation_id}/events/"
        async with client.stream(
            "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=None
        ) as response:
            assert response.status_code == 200, response.status_code
            opened += 1
            if opened == len(setup["conversations"]):
                all_open.set()
            event = ""
            async for raw in response.aiter_lines():
                if raw.startswith("event:"):
                    event = raw[6:].strip()
                elif raw.startswith("data:") and event == "message":
                    data = json.loads(raw[5:])
                    if data.get("role") == "staff":
                        arrived.setdefault(data["id"], time.perf_counter())

    agent = setup["agent"]
    latencies: list[float] = []
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) as client:
        tasks = [
            asyncio.create_task(listen(client, servers[i % len(servers)], cid, token))
            for i, (cid, token) in enumerate(setup["conversations"])
        ]
        await asyncio.wait_for(all_open.wait(), 30)
        await asyncio.sleep(0.5)
        ids = [cid for cid, _ in setup["conversations"]]
        conversations = await asyncio.to_thread(
            lambda: [Conversation.objects.get(pk=cid) for cid in ids]
        )
        for i in range(samples):
            conversation = conversations[i % len(conversations)]
            t0 = time.perf_counter()
            message = await asyncio.to_thread(
                staff_message_send, conversation=conversation, author=agent, content=f"Answer {i}"
            )
            key = str(message.pk)
            deadline = time.monotonic() + 5
            while key not in arrived and time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
            if key in arrived:
                latencies.append(arrived[key] - t0)
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "EVENT_BUS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        "DJANGO_READ_DOT_ENV": "false",
        "SSE_MAX_STREAMS_PER_CUSTOMER": "0",
        "SSE_MAX_STREAMS_PER_IP": "0",
        "CELERY_TASK_DEFAULT_QUEUE": "chatdesk-bench-pickup",  # no worker needed here
    }
    LOG_DIR.mkdir(exist_ok=True)
    database_prepare(DB_URL, env)
    os.environ.update(env)
    import django

    django.setup()
    import uuid

    from accounts.models import User
    from accounts.services import api_token_create
    from conversations.services import conversation_create, conversation_take_over

    run = uuid.uuid4().hex[:8]
    agent = User.objects.create(username=f"bench-agent-{run}", first_name="Bench", is_staff=True)
    conversations = []
    for i in range(args.conversations):
        customer = User.objects.create(username=f"bench-customer-{run}-{i}")
        conversation = conversation_create(customer=customer)
        conversation_take_over(conversation=conversation, agent=agent)
        conversations.append((str(conversation.pk), api_token_create(user=customer)))

    ports = []
    import socket

    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    procs = [start_web(env, port) for port in ports]
    servers = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for url in servers:
            wait_ready(url)
        direct = direct_redis(args.samples)
        setup = {"agent": agent, "conversations": conversations}
        chatdesk = asyncio.run(through_chatdesk(servers, setup, args.samples))
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)

    print(
        f"pickup latency, {args.samples} staff messages over {args.conversations} streams, "
        "2 uvicorn processes, loopback"
    )
    print(line("direct Redis XADD → XREAD (floor)", direct))
    print(line("staff_message_send → customer's SSE", chatdesk))
    ratio = statistics.median(chatdesk) / statistics.median(direct)
    print(
        f"median ratio chatdesk / direct: {ratio:.1f}x; target p50 ≤ 100 ms: "
        f"{'met' if statistics.median(chatdesk) <= 0.1 else 'NOT met'}"
    )
    lost = args.samples - len(chatdesk)
    if lost:
        print(f"{lost} messages did not arrive within 5 s")
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
