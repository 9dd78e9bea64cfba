"""Metrics micro-benchmark: CPU per turn spent recording metrics, single-process and in
prometheus-client's multiprocess mode (values in mmapped files), and the cost of one
/metrics export as the number of writer processes' files grows.

One turn records what an ordinary completed reply records: one HTTP request (the POST),
one LLM attempt (requests, tokens, spend, latency, TTFT), one cache probe, one reply end,
one Celery task. Each figure is the median of --repeats runs of --turns turns.

    .venv/bin/python bench/metrics_cost.py [--turns 2000] [--repeats 7]

No database, no Redis, no network. Each mode runs in a child process (the mode is fixed when
prometheus-client creates the metrics).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(turns: int, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from chatbot.platform import metrics

    def turn():
        metrics.record_http_request(
            route="conversation-messages", method="POST", status=202, seconds=0.012
        )
        metrics.record_llm_attempt(
            model="gpt-4o-mini",
            endpoint="api.openai.com",
            outcome="success",
            latency_ms=800,
            ttft_ms=200,
            prompt_tokens=1200,
            completion_tokens=150,
            cost=0.0003,
        )
        metrics.record_cache_probe(hit=False)
        metrics.record_reply_end(outcome="completed", seconds=0.9)
        metrics.record_celery_task(task="chatbot.reply_generate", state="SUCCESS")

    per_turn = []
    for _ in range(repeats):
        started = time.process_time()
        for _ in range(turns):
            turn()
        per_turn.append((time.process_time() - started) / turns * 1e6)
    export = []
    for _ in range(repeats):
        started = time.process_time()
        metrics.metrics_export()
        export.append((time.process_time() - started) * 1e3)
    return {"us_per_turn": statistics.median(per_turn), "export_ms": statistics.median(export)}


def run(env: dict, turns: int, repeats: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--turns", str(turns), "--repeats", str(repeats)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.turns, args.repeats)))
        return
    base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    base["DJANGO_SETTINGS_MODULE"] = "chatbot.settings.base"
    single = run(base, args.turns, args.repeats)
    print(
        f"single process: {single['us_per_turn']:.1f} µs CPU per turn, "
        f"export {single['export_ms']:.2f} ms"
    )
    with tempfile.TemporaryDirectory() as directory:
        env = {**base, "PROMETHEUS_MULTIPROC_DIR": directory}
        processes = 0
        for target in (1, 8, 32):
            while processes < target:  # every run is one more process writing its files
                result = run(env, args.turns, args.repeats)
                processes += 1
            print(
                f"multiprocess, {processes:>2} processes' files: "
                f"{result['us_per_turn']:.1f} µs CPU per turn, export {result['export_ms']:.2f} ms"
            )


if __name__ == "__main__":
    main()
