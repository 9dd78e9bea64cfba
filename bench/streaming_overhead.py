"""Streaming overhead: what Chatdesk adds on top of the model, as a customer sees it.

Measures, against the same OpenAI-compatible stub server:
  (a) time to first token seen by an SSE client, minus the stub's own time to first token
      (a direct streamed call with the openai SDK);
  (b) whole-turn time (POST → final `message` event) minus the stub's whole-call time;
  (c) the POST alone (until its 202);
at 1 and 20 concurrent conversations. Prints p50/p99 and the ratio to the direct call, and
the CPU each turn costs the system under test (every uvicorn, worker and pool process,
read from /proc before and after: steadier than times on a noisy machine), split into web
and worker, and the SQL statements per turn of the POST and of the worker (counted in
those processes by bench/querycount/sitecustomize.py).

Optional phases, same run:
  --open-loop-rate R   turns arrive at R per second for --open-loop-seconds against a stub
                       that takes --open-loop-stub-ms (500) per reply; throughput, errors
                       and turn p99 against the stub's own time (target: 100/s, 0, 1.2x);
  --rss-turns N        N more turns (20 at a time); the worker's RSS after the first 10 %
                       and at the end (target: growth <= 5 % over 10,000 turns);
  --profile DIR        py-spy samples web and worker during the 20-concurrent phase and
                       prints the top frames (bench/flame_summary.py reads the raw files).

Real parts: uvicorn (ASGI) serving the app, a Celery worker (threads pool) on the Redis
broker, Postgres, Redis Streams for events. Run from the repository root:

    .venv/bin/python bench/streaming_overhead.py [--turns 30] [--concurrency 1 20]
    .venv/bin/python bench/streaming_overhead.py --open-loop-rate 100 --rss-turns 10000

Needs Postgres (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/chatdesk_bench;
the database is created if missing) and Redis (REDIS_URL, default db 14, flushed).
"""

import argparse
import asyncio
import collections
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database_prepare, pct, wait_ready, widget_key_create  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))

from tests.stub_llm import Reply, StubLLMServer  # noqa: E402

DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
LOG_DIR = ROOT / "test-artifacts"
RSS_ROUND_TURNS = 90  # turns per conversation in the memory phase, below the message cap


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<34} n={len(values):<4} p50={pct(values, 50) * 1000:8.1f} ms  "
        f"p99={pct(values, 99) * 1000:8.1f} ms"
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


class Conversation:
    """One visitor's conversation with its SSE stream open: `turn()` posts a message and
    waits for the reply's final `message` event."""

    def __init__(self, client: httpx.AsyncClient, widget_key: str):
        self.client = client
        self.widget_key = widget_key
        self.first_delta: dict[str, float] = {}  # recorded on arrival
        self.done: dict[str, asyncio.Future] = {}
        self.listener: asyncio.Task | None = None

    async def open(self) -> "Conversation":
        client = self.client
        token = (
            await client.post("/api/v1/widget/sessions/", json={"widget_key": self.widget_key})
        ).json()["token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.id = (
            await client.post("/api/v1/conversations/", json={}, headers=self.headers)
        ).json()["id"]
        ready = asyncio.Event()
        self.listener = asyncio.create_task(self._listen(ready))
        await ready.wait()
        return self

    def _finished(self, reply_id: str) -> asyncio.Future:
        return self.done.setdefault(reply_id, asyncio.get_running_loop().create_future())

    async def _listen(self, ready: asyncio.Event) -> None:
        async with self.client.stream(
            "GET", f"/api/v1/conversations/{self.id}/events/", headers=self.headers, timeout=None
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
                        self.first_delta.setdefault(data["reply_id"], now)
                    elif data.get("role") == "assistant" and data.get("status") in (
                        "completed",
                        "failed",
                    ):
                        future = self._finished(data["id"])
                        if not future.done():
                            future.set_result((now, data["status"]))

    async def turn(self, content: str) -> tuple[float, float, float, str]:
        """(time to first delta, whole turn, the POST) in seconds, and the reply's status."""
        started = time.perf_counter()
        response = await self.client.post(
            f"/api/v1/conversations/{self.id}/messages/",
            json={"content": content},
            headers=self.headers,
        )
        posted = time.perf_counter() - started
        if response.status_code != 202:
            raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")
        reply_id = response.json()["reply"]["id"]
        ended, status = await asyncio.wait_for(self._finished(reply_id), 30)
        return self.first_delta.get(reply_id, ended) - started, ended - started, posted, status

    def close(self) -> None:
        if self.listener:
            self.listener.cancel()


def _client(base: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base, timeout=30, limits=limits)


# --knowledge-base sample: questions the demo shop's sample knowledge base answers (each
# retrieves sources, as a customer's would), in both of its languages.
SAMPLE_QUESTIONS = (
    "Where is my parcel?",
    "How long does delivery take?",
    "How do I return an item?",
    "When will I get my refund?",
    "Which payment methods do you accept?",
    "How do I reset my password?",
    "\u9000\u8d27\u653f\u7b56\u662f\u4ec0\u4e48\uff1f",  # what is the returns policy?
    "\u591a\u4e45\u80fd\u5230\u8d27\uff1f",  # how long until it arrives?
)
QUESTIONS = {"numbered": None, "sample": SAMPLE_QUESTIONS}


def question_text(questions: tuple[str, ...] | None, index: int, turn: int) -> str:
    if questions is None:
        return f"question {index}-{turn}"
    return questions[(index + turn) % len(questions)]


async def chatdesk_turns(
    base: str, widget_key: str, concurrency: int, turns: int, on_ready=None, questions=None
):
    """`concurrency` conversations, `turns` turns each, one after the other within each.
    `on_ready(moment)` is called with "start" once every stream is open and with "end"
    after the last turn (the query counters are read then)."""
    ttft, total, post = [], [], []
    async with _client(base, concurrency * 3) as client:
        warm = await Conversation(client, widget_key).open()
        await warm.turn("warm-up")  # imports, connections, first task
        warm.close()
        conversations = await asyncio.gather(
            *(Conversation(client, widget_key).open() for _ in range(concurrency))
        )
        if on_ready:
            on_ready("start")

        async def run(index: int, conversation: Conversation):
            for turn in range(turns):
                first, whole, posted, _status = await conversation.turn(
                    question_text(questions, index, turn)
                )
                ttft.append(first)
                total.append(whole)
                post.append(posted)

        await asyncio.gather(*(run(i, c) for i, c in enumerate(conversations)))
        if on_ready:
            on_ready("end")
        for conversation in conversations:
            conversation.close()
    return ttft, total, post


async def open_loop(base: str, widget_key: str, rate: float, seconds: float, pool: int):
    """Turns arrive every 1/rate s whatever happens to earlier ones (open loop), each on a
    conversation that has no turn in flight (a pool of `pool` conversations)."""
    totals: list[float] = []
    errors: list[str] = []
    async with _client(base, pool * 2 + 10) as client:
        conversations = []
        for start in range(0, pool, 20):  # open the streams 20 at a time
            conversations += await asyncio.gather(
                *(Conversation(client, widget_key).open() for _ in range(min(20, pool - start)))
            )
        await conversations[0].turn("warm-up")
        free: asyncio.Queue = asyncio.Queue()
        for conversation in conversations:
            free.put_nowait(conversation)

        async def one(conversation: Conversation, index: int):
            try:
                _first, whole, _posted, status = await conversation.turn(f"load {index}")
                if status != "completed":
                    errors.append(status)
                totals.append(whole)
            except Exception as error:  # a timeout, a 429/5xx: counted, not fatal
                errors.append(type(error).__name__)
            finally:
                free.put_nowait(conversation)

        tasks, started, waited_free = [], time.perf_counter(), 0
        count = int(rate * seconds)
        for index in range(count):
            delay = started + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if free.empty():
                waited_free += 1  # every conversation busy: the arrival counts as late
            conversation = await free.get()
            tasks.append(asyncio.create_task(one(conversation, index)))
        arrivals = time.perf_counter() - started
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
        for conversation in conversations:
            conversation.close()
    return totals, errors, count, arrivals, elapsed, waited_free


async def direct_open_loop(stub: StubLLMServer, rate: float, seconds: float):
    import openai

    client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="bench", max_retries=0)
    totals: list[float] = []
    errors: list[str] = []

    async def one():
        started = time.perf_counter()
        try:
            stream = await client.chat.completions.create(
                model="bench", stream=True, messages=[{"role": "user", "content": "hi"}]
            )
            async for _chunk in stream:
                pass
        except openai.OpenAIError as error:  # the stub itself overloaded: counted
            errors.append(type(error).__name__)
            return
        totals.append(time.perf_counter() - started)

    tasks, started = [], time.perf_counter()
    for index in range(int(rate * seconds)):
        delay = started + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    await client.close()
    return totals, errors


def _stat(pid: int) -> tuple[int, float, int, float] | None:
    """(parent pid, CPU seconds used so far, RSS bytes, of the CPU the kernel's part) of a
    live process, from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return int(fields[1]), cpu, rss, int(fields[12]) / ticks


def _tree(roots: list[int], index: int) -> float:
    stats = {int(p.name): _stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat:
            children.setdefault(stat[0], []).append(pid)
    total, todo = 0.0, list(roots)
    while todo:
        pid = todo.pop()
        if stats.get(pid):
            total += stats[pid][index]
        todo.extend(children.get(pid, []))
    return total


def cpu_seconds(roots: list[int]) -> float:
    """CPU used by these processes and all their descendants (uvicorn workers, pool
    children): the system under test, not the load generator or the stub."""
    return _tree(roots, 1)


def kernel_cpu_seconds(roots: list[int]) -> float:
    """The part of cpu_seconds spent in the kernel (system calls, wake-ups)."""
    return _tree(roots, 3)


def rss_bytes(roots: list[int]) -> int:
    return int(_tree(roots, 2))


class QueryCounts:
    """SQL statements counted in the system under test (bench/querycount/sitecustomize.py)."""

    def __init__(self, client):
        self.client = client
        self.marks: dict[str, dict[str, int]] = {}

    def read(self) -> dict[str, int]:
        time.sleep(0.35)  # the processes flush their counts every 0.1 s
        return {
            role: int(self.client.get(f"bench:queries:{role}") or 0) for role in ("web", "worker")
        }

    def mark(self, moment: str) -> None:
        self.marks[moment] = self.read()

    def per_turn(self, turns: int) -> dict[str, float]:
        start, end = self.marks["start"], self.marks["end"]
        return {role: (end[role] - start[role]) / turns for role in start}


def profile_start(out_dir: Path, procs: dict[str, subprocess.Popen], seconds: int, gil_only: bool):
    out_dir.mkdir(parents=True, exist_ok=True)
    # --gil samples only the thread holding the GIL: Python CPU, not threads waiting in C.
    mode = ["--gil"] if gil_only else ["--nonblocking"]
    spies = []
    for role, proc in procs.items():
        spies.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--subprocesses",
                    "--format",
                    "raw",
                    "--rate",
                    "200",
                    "--duration",
                    str(seconds),
                    "--output",
                    str(out_dir / f"{role}.txt"),
                    *mode,
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    return spies


def knowledge_base_set(choice: str, env: dict) -> None:
    """The bench database keeps its rows between runs: empty the knowledge base, then load
    the sample when asked, so "none" really measures turns without one."""
    script = (
        "from chatbot.knowledge.models import Article, Source; "
        "Article.objects.all().delete(); Source.objects.all().delete()"
    )
    run = {"cwd": ROOT, "env": env, "check": True}
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], **run)
    if choice == "sample":
        subprocess.run([sys.executable, "manage.py", "knowledge_load_sample"], **run)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--ttft-ms", type=int, default=50, help="stub's time to first token")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-ms", type=int, default=5)
    parser.add_argument(
        "--pool",
        choices=["threads", "prefork", "gevent"],
        default="threads",
        help="Celery worker pool (prefork uses every core; threads one)",
    )
    parser.add_argument("--worker-concurrency", type=int, default=0, help="0: enough")
    parser.add_argument("--web-workers", type=int, default=2, help="uvicorn processes")
    parser.add_argument(
        "--server",
        choices=["uvicorn", "uvicorn-h11", "granian"],
        default="uvicorn",
        help="uvicorn: uvloop + httptools when installed; uvicorn-h11: asyncio + h11",
    )
    parser.add_argument("--open-loop-rate", type=float, default=0, help="turns/s; 0: skip")
    parser.add_argument("--open-loop-seconds", type=float, default=10)
    parser.add_argument("--open-loop-stub-ms", type=int, default=500)
    parser.add_argument("--open-loop-conversations", type=int, default=0, help="0: enough")
    parser.add_argument("--rss-turns", type=int, default=0, help="turns for RSS growth; 0: skip")
    parser.add_argument("--profile", type=Path, help="py-spy raw stacks into this folder")
    parser.add_argument(
        "--profile-mode",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: only the thread holding the GIL is sampled (where CPU goes); "
        "wall: every busy thread, waits in C included",
    )
    parser.add_argument("--no-count-queries", action="store_true")
    parser.add_argument(
        "--knowledge-base",
        choices=["none", "sample"],
        default="none",
        help="sample: load the demo shop's bilingual knowledge base first",
    )
    parser.add_argument(
        "--questions",
        choices=sorted(QUESTIONS),
        default="numbered",
        help="numbered: 'question 3-7' (retrieves nothing); sample: about the sample KB",
    )
    args = parser.parse_args()
    questions = QUESTIONS[args.questions]

    text = " ".join(f"word{i}" for i in range(60))
    fast_reply = Reply(
        text=text, chunks=args.chunks, ttft=args.ttft_ms / 1000, chunk_delay=args.chunk_ms / 1000
    )
    stub = StubLLMServer().start()
    stub.default = fast_reply
    open_loop_pool = args.open_loop_conversations or int(
        args.open_loop_rate * args.open_loop_stub_ms / 1000 * 2 + 10
    )
    in_flight = max(max(args.concurrency), open_loop_pool if args.open_loop_rate else 0, 20)
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
        # The load comes from one IP and one widget key: limits would measure themselves.
        "RATE_LIMIT_WIDGET_SESSIONS": "100000/minute",
        "RATE_LIMIT_USER": "100000/minute",
        "RATE_LIMIT_WIDGET_KEY": "1000000/minute",
        "SSE_MAX_STREAMS_PER_IP": "0",
        # Postgres allows 100 connections for everyone on the machine: web processes hold
        # one only per request (streams give theirs back), the worker one per running task.
        "DATABASE_POOL_MAX_SIZE": str(min(in_flight + 10, 40)),
    }
    if not args.no_count_queries:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(ROOT / "bench" / "querycount"), env.get("PYTHONPATH", "")) if p
        )
        env["BENCH_QUERY_REDIS_URL"] = REDIS_URL
    env.update(
        {k[len("BENCH_ENV_") :]: v for k, v in os.environ.items() if k.startswith("BENCH_ENV_")}
    )  # e.g. BENCH_ENV_CHAT_DEBOUNCE_SECONDS=0
    import redis

    LOG_DIR.mkdir(exist_ok=True)
    redis_client = redis.Redis.from_url(REDIS_URL)
    redis_client.flushdb()
    database_prepare(DB_URL, env)
    widget_key = widget_key_create(env)

    knowledge_base_set(args.knowledge_base, env)

    port = free_port()
    if args.server == "granian":
        web_cmd = [
            sys.executable, "-m", "granian", "--interface", "asginl", "--port", str(port),
            "--workers", str(args.web_workers), "--no-ws", "--log-level", "warning",
            "--loop", "uvloop", "chatbot.asgi:application",
        ]  # fmt: skip
    else:
        web_cmd = [
            sys.executable, "-m", "uvicorn", "chatbot.asgi:application", "--port", str(port),
            "--no-access-log", "--workers", str(args.web_workers), "--log-level", "warning",
            "--lifespan", "off",
        ]  # fmt: skip
        if args.server == "uvicorn-h11":
            web_cmd += ["--loop", "asyncio", "--http", "h11"]
    worker_concurrency = args.worker_concurrency or in_flight + 4
    procs = {
        "web": start(
            web_cmd,
            {**env, "BENCH_QUERY_ROLE": "web", "DATABASE_POOL_MAX_SIZE": "10"},
            str(LOG_DIR / "bench-web.log"),
        ),
        "worker": start(
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
                str(worker_concurrency),
                "-Q",
                "chatdesk-bench",
                "-l",
                "WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            {**env, "BENCH_QUERY_ROLE": "worker"},
            str(LOG_DIR / "bench-worker.log"),
        ),
    }
    roots = [proc.pid for proc in procs.values()]
    queries = QueryCounts(redis_client)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base)
        time.sleep(2)  # worker start-up
        print(
            f"processes: {args.web_workers} {args.server}, "
            f"Celery {args.pool} pool x{worker_concurrency}"
        )
        print(
            f"stub: ttft {args.ttft_ms} ms, {args.chunks} chunks every {args.chunk_ms} ms; "
            f"{args.turns} turns per conversation; {os.cpu_count()} CPUs"
        )
        print(f"knowledge base: {args.knowledge_base}; questions: {args.questions}")
        overrides = {k: v for k, v in env.items() if f"BENCH_ENV_{k}" in os.environ}
        if overrides:
            print(f"overrides: {overrides}")
        idle_before = cpu_seconds(roots)
        time.sleep(3)
        idle = (cpu_seconds(roots) - idle_before) / 3
        print(f"idle CPU of the system under test: {idle * 1000:.0f} ms per second")
        for concurrency in args.concurrency:
            d_ttft, d_total = asyncio.run(direct_call(stub, concurrency, args.turns))
            spies = []
            if args.profile and concurrency == max(args.concurrency):
                spies = profile_start(
                    args.profile, procs, seconds=600, gil_only=args.profile_mode == "cpu"
                )
            cpu_at: dict[str, dict[str, float]] = {}

            def mark(moment: str, cpu_at: dict = cpu_at) -> None:
                # Only the measured turns: not the warm-up, sessions or streams opening.
                cpu_at[moment] = {role: cpu_seconds([p.pid]) for role, p in procs.items()}
                cpu_at[moment]["kernel"] = kernel_cpu_seconds([p.pid for p in procs.values()])
                if not args.no_count_queries:
                    queries.mark(moment)

            c_ttft, c_total, c_post = asyncio.run(
                chatdesk_turns(
                    base, widget_key, concurrency, args.turns, on_ready=mark, questions=questions
                )
            )
            time.sleep(0.2)  # the last turn's bookkeeping after its final event
            cpu = {
                role: (cpu_seconds([p.pid]) - cpu_at["start"][role]) / len(c_total)
                for role, p in procs.items()
            }
            kernel = (
                kernel_cpu_seconds([p.pid for p in procs.values()]) - cpu_at["start"]["kernel"]
            ) / len(c_total)
            for spy in spies:
                spy.send_signal(2)  # SIGINT: py-spy writes what it has
            for spy in spies:
                spy.wait(30)
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
                f"CPU per turn (web + worker + SSE, from /proc): {sum(cpu.values()) * 1000:.1f} ms"
                f" = web {cpu['web'] * 1000:.1f} + worker {cpu['worker'] * 1000:.1f}"
                f"; of it in the kernel {kernel * 1000:.1f} (DESIGN.md budget: 10 ms)"
            )
            if not args.no_count_queries:
                counts = queries.per_turn(len(c_total))
                print(
                    f"SQL statements per turn: POST {counts['web']:.1f} (target 4), "
                    f"worker {counts['worker']:.1f} (target 6)"
                )
            if statistics.mean(c_total) > 10:
                print("warning: turns took over 10 s on average; is the worker running?")
            if spies:
                from flame_summary import print_summary

                for role in procs:
                    print(f"\n-- py-spy, {role} ({args.profile / (role + '.txt')})")
                    print_summary(args.profile / f"{role}.txt", top=18)

        if args.open_loop_rate:
            rate, seconds = args.open_loop_rate, args.open_loop_seconds
            slow = Reply(
                text=text,
                chunks=args.chunks,
                ttft=0.1,
                chunk_delay=(args.open_loop_stub_ms / 1000 - 0.1) / max(1, args.chunks - 1),
            )
            stub.default = slow
            direct, direct_errors = asyncio.run(direct_open_loop(stub, rate, min(seconds, 5)))
            cpu_before = cpu_seconds(roots)
            totals, errors, count, arrivals, elapsed, late = asyncio.run(
                open_loop(base, widget_key, rate, seconds, open_loop_pool)
            )
            cpu_turn = (cpu_seconds(roots) - cpu_before) / max(1, count)
            stub.default = fast_reply
            print(
                f"\n== open loop: {rate:g} turns/s for {seconds:g} s, stub "
                f"{args.open_loop_stub_ms} ms per reply, {open_loop_pool} conversations"
            )
            if direct:
                print(summary("direct SDK call at the same rate", direct))
            print(f"direct SDK call errors at that rate: {len(direct_errors)}")
            if totals:
                print(summary("Chatdesk: whole turn", totals))
                print(
                    f"turn p99 / stub's own time: "
                    f"{pct(totals, 99) / (args.open_loop_stub_ms / 1000):.2f}x (target <= 1.2x)"
                )
            print(
                f"completed {count - len(errors)}/{count} turns in {elapsed:.1f} s "
                f"({(count - len(errors)) / elapsed:.1f} turns/s; arrivals took {arrivals:.1f} s,"
                f" {late} waited for a free conversation); errors: {len(errors)}"
                + (f" {dict(collections.Counter(errors))}" if errors else "")
            )
            print(f"CPU per turn under open load: {cpu_turn * 1000:.1f} ms")

        if args.rss_turns:
            worker = [procs["worker"].pid]
            per_conversation = max(1, args.rss_turns // 20)
            warm = max(1, per_conversation // 10)
            asyncio.run(chatdesk_turns(base, widget_key, 20, warm))
            before = rss_bytes(worker)
            started = time.perf_counter()
            left = per_conversation - warm
            while left > 0:
                # Fresh conversations every RSS_ROUND_TURNS turns each: a conversation's
                # message cap (CHAT_MAX_MESSAGES_PER_CONVERSATION, 200) would refuse more.
                round_turns = min(left, RSS_ROUND_TURNS)
                asyncio.run(chatdesk_turns(base, widget_key, 20, round_turns))
                left -= round_turns
            after = rss_bytes(worker)
            done = 20 * per_conversation
            print(
                f"\n== worker memory over {done} turns ({time.perf_counter() - started:.0f} s): "
                f"RSS {before / 2**20:.1f} MiB after {20 * warm} turns -> "
                f"{after / 2**20:.1f} MiB at the end ({(after / before - 1) * 100:+.1f} %, "
                "target <= 5 %)"
            )
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                # A web process draining open SSE streams would outlive the bench: end its
                # whole session (the supervisor and its workers).
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        stub.stop()


if __name__ == "__main__":
    main()
