"""The message POST alone: web CPU and SQL statements per POST, and its latency.

`bench/streaming_overhead.py` reads the web process's CPU per whole turn, SSE relaying
included; this isolates the POST. One uvicorn process (asyncio + h11) serves the app; no
worker runs, so the replies stay pending (the caps are off for the run) and nothing else
uses the web process's CPU. Widget visitors POST `--posts` messages each, `--concurrency`
at a time, after a warm-up; the uvicorn process's CPU is read from /proc before and after.

`--path viewset` sends the same requests with `Accept: application/json; q=1`, which the
light path (conversations.api.message_send_view) hands to the DRF viewset: both paths
measured by the same code on the same server, back to back.

    .venv/bin/python bench/message_post.py [--posts 300] [--concurrency 1] [--path light]

Needs Postgres (BENCH_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/chatdesk_bench,
created if missing) and Redis (BENCH_REDIS_URL, default db 14, flushed).
"""

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database_prepare, pct, wait_ready, widget_key_create  # noqa: E402
from bench.streaming_overhead import (  # noqa: E402
    DB_URL,
    LOG_DIR,
    REDIS_URL,
    QueryCounts,
    cpu_seconds,
    free_port,
    start,
)


async def _visitor(client: httpx.AsyncClient, widget_key: str) -> tuple[dict, str]:
    session = await client.post("/api/v1/widget/sessions/", json={"widget_key": widget_key})
    headers = {"Authorization": f"Bearer {session.json()['token']}"}
    conversation = await client.post("/api/v1/conversations/", json={}, headers=headers)
    return headers, conversation.json()["id"]


async def _visitors(base: str, widget_key: str, count: int) -> list[tuple[dict, str]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        return [await _visitor(client, widget_key) for _ in range(count)]


async def _posts(base: str, visitors: list, path: str, n: int) -> list[float]:
    accept = "application/json; q=1" if path == "viewset" else "application/json"
    times: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def run(headers: dict, conversation_id: str) -> None:
            url = f"/api/v1/conversations/{conversation_id}/messages/"
            for turn in range(n):
                started = time.perf_counter()
                response = await client.post(
                    url,
                    json={"content": f"question {turn}", "client_message_id": uuid.uuid4().hex},
                    headers={**headers, "Accept": accept},
                )
                times.append(time.perf_counter() - started)
                assert response.status_code == 202, response.text

        await asyncio.gather(*(run(headers, conversation) for headers, conversation in visitors))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=300, help="POSTs per visitor")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--path", choices=["light", "viewset"], default="light")
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args()

    import redis

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_TASK_DEFAULT_QUEUE": "chatdesk-bench-post",  # nobody consumes it
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_READ_DOT_ENV": "false",
        "RATE_LIMIT_WIDGET_SESSIONS": "100000/minute",
        "RATE_LIMIT_USER": "100000/minute",
        "RATE_LIMIT_WIDGET_KEY": "1000000/minute",
        # No worker answers: the replies stay pending, so the caps would stop the run.
        "CHAT_MAX_CONCURRENT_REPLIES": "0",
        "CHAT_MAX_MESSAGES_PER_CONVERSATION": "0",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT / "bench" / "querycount"), os.environ.get("PYTHONPATH")) if p
        ),
        "BENCH_QUERY_REDIS_URL": REDIS_URL,
        "BENCH_QUERY_ROLE": "web",
    }
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_client.flushdb()
    LOG_DIR.mkdir(exist_ok=True)
    database_prepare(DB_URL, env)
    widget_key = widget_key_create(env)
    port = args.port or free_port()
    web_cmd = [
        sys.executable, "-m", "uvicorn", "chatbot.asgi:application", "--port", str(port),
        "--no-access-log", "--workers", "1", "--log-level", "warning", "--lifespan", "off",
        "--loop", "asyncio", "--http", "h11",
    ]  # fmt: skip
    web = start(web_cmd, env, str(LOG_DIR / "bench-message-post.log"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        visitors = asyncio.run(_visitors(base, widget_key, args.concurrency))
        asyncio.run(_posts(base, visitors, args.path, 30))  # warm-up: imports, connections
        queries = QueryCounts(redis_client)
        queries.mark("start")
        cpu_before = cpu_seconds([web.pid])
        times = asyncio.run(_posts(base, visitors, args.path, args.posts))
        cpu = cpu_seconds([web.pid]) - cpu_before
        queries.mark("end")
        total = args.posts * args.concurrency
        print(
            f"path {args.path}, {args.concurrency} at a time, {total} POSTs: "
            f"web CPU per POST {cpu / total * 1000:.2f} ms, "
            f"SQL statements per POST {queries.per_turn(total)['web']:.2f}, "
            f"POST p50 {pct(times, 50) * 1000:.1f} ms, p99 {pct(times, 99) * 1000:.1f} ms; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
    finally:
        web.terminate()
        web.wait(10)


if __name__ == "__main__":
    main()
