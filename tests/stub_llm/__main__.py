"""Run the stub LLM server standalone (for benchmarks and manual testing).

    python -m tests.stub_llm --host 127.0.0.1 --port 8999 --ttft-ms 50 --chunk-ms 5 \\
        --chunks 20 --text "Hello there"

Prints the base URL (e.g. ``http://127.0.0.1:8999/v1``) on its own line, then serves until
killed (SIGINT/SIGTERM).  Without ``--text`` every chat request gets an echo of its last
user message, chunked and paced the same way.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from tests.stub_llm.server import ChatAction, Echo, Reply, StubLLMServer


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.stub_llm", description="OpenAI-compatible stub LLM server."
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8999, help="port, 0 = any free (default 8999)")
    parser.add_argument("--ttft-ms", type=float, default=0.0, help="delay before first chunk")
    parser.add_argument("--chunk-ms", type=float, default=0.0, help="delay between chunks")
    parser.add_argument("--chunks", type=int, default=4, help="stream chunks per reply")
    parser.add_argument("--text", default=None, help="fixed reply text (default: echo)")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Start the server, print its base URL and serve until SIGINT/SIGTERM."""
    args = build_parser().parse_args(argv)
    ttft, chunk_delay = args.ttft_ms / 1000.0, args.chunk_ms / 1000.0
    default: ChatAction
    if args.text is None:
        default = Echo(chunks=args.chunks, ttft=ttft, chunk_delay=chunk_delay)
    else:
        default = Reply(text=args.text, chunks=args.chunks, ttft=ttft, chunk_delay=chunk_delay)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    stub = StubLLMServer(host=args.host, port=args.port, default=default, verbose=args.verbose)
    stub.start()
    print(stub.base_url, flush=True)
    print(f"stub LLM serving {default!r}; Ctrl+C to stop", file=sys.stderr, flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
