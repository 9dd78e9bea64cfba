"""Top frames of a py-spy raw profile (`py-spy record --format raw`), as text.

    .venv/bin/python bench/flame_summary.py test-artifacts/profile/worker.txt [--top 25]

Each line of a raw file is one call stack (`frame;frame;...;leaf count`). Printed: the
share of samples spent in each function itself (self), and the share of samples with a
function anywhere on the stack (inclusive), for our code and the libraries alike; idle
threads (waiting on a socket, a lock, a sleep) are left out, so shares are of busy time.
"""

import argparse
import collections
import re
from pathlib import Path

# Leaf frames where a thread is only waiting: not CPU.
_IDLE = re.compile(
    r"^(select|poll|epoll|wait|_wait_for_tstate_lock|acquire|sleep|accept|recv|recv_into|"
    r"read|readinto|_run_once|_worker|run_forever|get|__enter__|connect|"
    r"_recv_into|_read_from_socket|readline|_read_status|kevent|sock_recv|_sleep)\b"
)


def _frame_name(frame: str) -> str:
    # "function (path/to/module.py:123)" -> "function (module.py)"
    match = re.match(r"(.*?) \((.*?)(?::\d+)?\)$", frame.strip())
    if not match:
        return frame.strip()
    function, path = match.groups()
    parts = Path(path).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{function} ({short})"


def summarize(path: Path) -> tuple[int, collections.Counter, collections.Counter]:
    own: collections.Counter = collections.Counter()
    inclusive: collections.Counter = collections.Counter()
    busy = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_frame_name(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        if not frames or _IDLE.match(frames[-1]):
            continue
        samples = int(count)
        busy += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    return busy, own, inclusive


def print_summary(path: Path, top: int = 20) -> None:
    if not path.exists():
        print(f"(no profile at {path})")
        return
    busy, own, inclusive = summarize(path)
    if not busy:
        print("(no busy samples)")
        return
    print(f"busy samples: {busy}")
    print("  self %   function")
    for frame, samples in own.most_common(top):
        print(f"  {samples / busy * 100:5.1f}   {frame}")
    print("  incl %   function")
    for frame, samples in inclusive.most_common(top + 12)[: top + 12]:
        print(f"  {samples / busy * 100:5.1f}   {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print_summary(args.path, args.top)


if __name__ == "__main__":
    main()
