"""SSE fan-out: one customer holding many streams must starve no other customer.

Runs the fan-out test (tests/conversations/test_sse_fanout.py) under real uvicorn with the
given number of streams for the greedy customer (its cap raised for the measurement), and
prints: streams open, Redis connections held by the web process, events delivered to the
other customers / expected, and their delivery latency (publish → SSE client) p50/p99.

    DATABASE_URL=... REDIS_URL=... CELERY_BROKER_URL=... \\
        .venv/bin/python bench/sse_fanout.py [--streams 300]
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=300)
    args = parser.parse_args()
    env = {**os.environ, "SSE_FANOUT_STREAMS": str(args.streams)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        "tests/conversations/test_sse_fanout.py",
        "-k",
        "starves",
    ]
    return subprocess.call(command, cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main())
