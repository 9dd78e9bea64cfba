"""Streaming overhead: what Chatdesk adds on top of the model, as a customer sees it.

Measures, against the same OpenAI-compatible stub server:
  (a) time to first token seen by an SSE client, minus the stub's own time to first token
      (a direct streamed call with the openai SDK);
  (b) whole-turn time (POST → final `message` event) minus the stub's whole-call time;
at 1 and 20 concurrent conversations. Prints p50/p99 and the ratio to the direct call, and
the CPU each turn costs the system under test (every uvicorn, worker and pool process,
read from /proc before and after: steadier than times on a noisy machine).

Real parts: uvicorn (ASGI) serving the app, a Celery worker (threads pool) on the Redis
broker, Postgres, Redis Streams for events. Run from the repository root:

    .venv/bin/python bench/streaming_overhead.py [--turns 30] [--concurrency 1 20]

Needs Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/chatdesk_bench;
the database is created if missing) and Redis (REDIS_URL, default db 14, flushed).
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stub_llm import Reply, StubLLMServer  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOG_DIR = ROOT / "test-artifacts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} n={len(values):<4} p50={pct(values, 50) * 1000:8.1f} ms  "
        f"p99={pct(values, 99) * 1000:8.1f} ms"
    )


def ensure_database(env: dict) -> None:
    import psycopg

    base, _, name = DB_URL.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def start(cmd: list[str], env: dict, log: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=env,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def direct_call(stub: StubLLMServer, concurrency: int, turns: int):
    """The baseline: the openai SDK streaming straight from the stub."""
    import openai

    client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="bench", max_retries=0)
    ttft, total = [], []

    async def one():
        started = time.perf_counter()
        first = None
        stream = await client.chat.completions.create(
            model="bench", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - started
        ttft.append(first)
        total.append(time.perf_counter() - started)

    await one()  # warm-up
    ttft.clear()
    total.clear()
    for _ in range(turns):
        await asyncio.gather(*(one() for _ in range(concurrency)))
    return ttft, total


async def chatdesk_turns(base: str, widget_key: str, concurrency: int, turns: int):
    ttft, total, post = [], [], []
    limits = httpx.Limits(max_connections=concurrency * 3)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def conversation(index: int):
            token = (
                await client.post("/api/v1/widget/sessions/", json={"widget_key": widget_key})
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            conv = (await client.post("/api/v1/conversations/", json={}, headers=headers)).json()[
                "id"
            ]
            loop = asyncio.get_running_loop()
            # Recorded on arrival, whether or not the POST response has been read yet.
            first_delta: dict[str, float] = {}
            done: dict[str, asyncio.Future] = {}
            ready = asyncio.Event()

            def finished(reply_id: str) -> asyncio.Future:
                return done.setdefault(reply_id, loop.create_future())

            async def listen():
                async with client.stream(
                    "GET", f"/api/v1/conversations/{conv}/events/", headers=headers, timeout=None
                ) as response:
                    ready.set()
                    event = None
                    async for line in response.aiter_lines():
                        if line.startswith("event:"):
                            event = line[6:].strip()
                        elif line.startswith("data:") and event in ("delta", "message"):
                            data = json.loads(line[5:])
                            now = time.perf_counter()
                            if event == "delta":
                                first_delta.setdefault(data["reply_id"], now)
                            elif data.get("role") == "assistant" and data.get("status") in (
                                "completed",
                                "failed",
                            ):
                                future = finished(data["id"])
                                if not future.done():
                                    future.set_result(now)

            listener = asyncio.create_task(listen())
            await ready.wait()
            for turn in range(turns):
                started = time.perf_counter()
                response = await client.post(
                    f"/api/v1/conversations/{conv}/messages/",
                    json={"content": f"question {index}-{turn}"},
                    headers=headers,
                )
                post.append(time.perf_counter() - started)
                reply_id = response.json()["reply"]["id"]
                ended = await asyncio.wait_for(finished(reply_id), 30)
                ttft.append(first_delta.get(reply_id, ended) - started)
                total.append(ended - started)
            listener.cancel()

        await conversation(-1)  # warm-up: imports, connections, first task
        ttft.clear()
        total.clear()
        post.clear()
        await asyncio.gather(*(conversation(i) for i in range(concurrency)))
    return ttft, total, post


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used so far) of a live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks  # ppid; utime + stime


def cpu_seconds(roots: list[int]) -> float:
    """CPU used by these processes and all their descendants (uvicorn workers, pool
    children): the system under test, not the load generator or the stub."""
    stats = {int(p.name): _stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat:
            children.setdefault(stat[0], []).append(pid)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        if stats.get(pid):
            total += stats[pid][1]
        todo.extend(children.get(pid, []))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--ttft-ms", type=int, default=50, help="stub's time to first token")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-ms", type=int, default=5)
    parser.add_argument(
        "--pool",
        choices=["threads", "prefork"],
        default="threads",
        help="Celery worker pool (prefork uses every core; threads one)",
    )
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn processes")
    args = parser.parse_args()

    text = " ".join(f"word{i}" for i in range(60))
    stub = StubLLMServer().start()
    stub.default = Reply(
        text=text, chunks=args.chunks, ttft=args.ttft_ms / 1000, chunk_delay=args.chunk_ms / 1000
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
        "DATABASE_URL": DB_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "OPENAI_BASE_URL": stub.base_url,
        "OPENAI_API_KEY": "bench",
        "DJANGO_DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "DJANGO_READ_DOT_ENV": "false",
        "CELERY_TASK_DEFAULT_QUEUE": "chatdesk-bench",
        "RATE_LIMIT_WIDGET_SESSIONS": "100000/minute",
        "DATABASE_POOL_MAX_SIZE": str(max(args.concurrency) + 10),
    }
    env.update(
        {k[len("BENCH_ENV_") :]: v for k, v in os.environ.items() if k.startswith("BENCH_ENV_")}
    )  # e.g. BENCH_ENV_CHAT_DEBOUNCE_SECONDS=0
    import redis

    LOG_DIR.mkdir(exist_ok=True)
    redis.Redis.from_url(REDIS_URL).flushdb()
    ensure_database(env)
    widget_key = (
        subprocess.run(
            [sys.executable, "manage.py", "create_widget_key", "Bench"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    port = free_port()
    procs = [
        start(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "chatbot.asgi:application",
                "--port",
                str(port),
                "--no-access-log",
                "--workers",
                str(args.web_workers),
                "--log-level",
                "warning",
            ],
            env,
            str(LOG_DIR / "bench-uvicorn.log"),
        ),
        start(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "chatbot",
                "worker",
                "-P",
                args.pool,
                "-c",
                str(max(args.concurrency) + 4),
                "-Q",
                "chatdesk-bench",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            str(LOG_DIR / "bench-worker.log"),
        ),
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        time.sleep(2)  # worker start-up
        print(f"processes: {args.web_workers} uvicorn, Celery {args.pool} pool")
        print(
            f"stub: ttft {args.ttft_ms} ms, {args.chunks} chunks every {args.chunk_ms} ms; "
            f"{args.turns} turns per conversation; {os.cpu_count()} CPUs"
        )
        overrides = {
            k: v
            for k, v in env.items()
            if k in os.environ and k.startswith(("CHAT_", "MODERATION_"))
        }
        if overrides:
            print(f"overrides: {overrides}")
        idle_before = cpu_seconds([proc.pid for proc in procs])
        time.sleep(3)
        idle = (cpu_seconds([proc.pid for proc in procs]) - idle_before) / 3
        print(f"idle CPU of the system under test: {idle * 1000:.0f} ms per second")
        for concurrency in args.concurrency:
            d_ttft, d_total = asyncio.run(direct_call(stub, concurrency, args.turns))
            cpu_before = cpu_seconds([proc.pid for proc in procs])
            c_ttft, c_total, c_post = asyncio.run(
                chatdesk_turns(base, widget_key, concurrency, args.turns)
            )
            cpu_per_turn = (cpu_seconds([proc.pid for proc in procs]) - cpu_before) / len(c_total)
            print(f"\n== {concurrency} concurrent conversation(s)")
            print(summary("direct SDK call: time to 1st token", d_ttft))
            print(summary("direct SDK call: whole call", d_total))
            print(summary("Chatdesk SSE: time to 1st token", c_ttft))
            print(summary("Chatdesk: whole turn", c_total))
            print(summary("  of which the POST (202)", c_post))
            for label, ours, theirs in (("TTFT", c_ttft, d_ttft), ("turn", c_total, d_total)):
                p50 = pct(ours, 50) - pct(theirs, 50)
                p99 = pct(ours, 99) - pct(theirs, 99)
                print(
                    f"{label} overhead: p50 {p50 * 1000:7.1f} ms  p99 {p99 * 1000:7.1f} ms  "
                    f"(ratio to direct p50 {pct(ours, 50) / pct(theirs, 50):.2f}x, "
                    f"p99 {pct(ours, 99) / pct(theirs, 99):.2f}x)"
                )
            print(
                f"CPU per turn (web + worker + SSE, from /proc): {cpu_per_turn * 1000:.1f} ms "
                "(DESIGN.md budget: 10 ms)"
            )
            if statistics.mean(c_total) > 10:
                print("warning: turns took over 10 s on average; is the worker running?")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)
        stub.stop()


if __name__ == "__main__":
    main()
