"""Output guard micro-benchmark: CPU per 1,000 streamed characters, and how late the first
character shows, for the guard in this tree ("after") and the one at a git revision
("before", default: the commit before the minimal hold-back, the parent of the one that
added chatbot/moderation/leak.py).

A 2,000-character system prompt with a canary; replies of ordinary text (~1,000 characters,
the prompt's vocabulary in another order, so no leak) streamed in 5-character deltas, as the
worker feeds them; `finish` included (it re-checks the whole reply). Two configurations:
no blocked terms/patterns (the default), and the docs' example terms and pattern. Each
figure is the median of --repeats runs (the two guards take turns); CPU is process time,
the guard alone. The matcher for a prompt is cached per process; its one-off build time is
printed separately.

Time to first visible character: how many characters had been streamed when `feed` first
returned text (48-character hold-back before; 0 hold-back floor now).

    .venv/bin/python bench/output_guard.py [--repeats 51] [--before-ref REV]

No database, no Redis, no network: Django settings are configured in-process.
"""

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHUNK = 5
CANARY = "CANARY-7f3a9"
_VOCABULARY = (  # noqa: SIM905 (a word list, easier to read and edit as text)
    "order orders parcel shipping delivery return returns refund exchange size sizes shoe "
    "shoes boot boots sandal store warehouse courier tracking number address customer "
    "account payment card invoice receipt week days business working within free paid "
    "label printer email message reply help please thank you we our your the a an and or "
    "to of in on for with from by at is are be can will may not never always only if when "
    "our team support agent policy rule rules answer question questions polite short clear"
).split()


def text_of(rng: random.Random, chars: int) -> str:
    sentences = []
    while sum(len(s) + 1 for s in sentences) < chars:
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(6, 14))]
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)[:chars]


def system_prompt() -> str:
    body = text_of(random.Random(1), 2000 - len(CANARY) - 30)
    return f"You are Chatdesk. Internal reference {CANARY}. {body}"[:2000]


def configure() -> None:
    from django.conf import settings

    settings.configure(
        MODERATION_ENABLED=True,
        MODERATION_PROVIDER_ENABLED=False,
        MODERATION_BLOCKED_TERMS=[],
        MODERATION_BLOCKED_PATTERNS=[],
        MODERATION_POLICY={},
        MODERATION_CANARIES=[],
        MODERATION_CANARY_PATTERN=r"\bCANARY-[A-Za-z0-9]{4,}\b",
        MODERATION_PROMPT_LEAK_MIN_CHARS=40,
        MODERATION_STREAM_HOLDBACK_CHARS=0,
    )


def before_minimal_holdback() -> str:
    """The commit before the minimal hold-back (the parent of the one adding leak.py)."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "chatbot/moderation/leak.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return f"{added[-1]}^"


def load_before(ref: str):
    """The output guard module as it was at `ref`, imported beside the current package."""
    source = subprocess.run(
        ["git", "show", f"{ref}:chatbot/moderation/stream.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("chatbot.moderation._stream_before", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "chatbot.moderation"
    exec(compile(source, f"{ref}:chatbot/moderation/stream.py", "exec"), module.__dict__)  # noqa: S102
    return module


def run(guard_cls, prompt: str, reply: str) -> tuple[float, int, float]:
    """(CPU seconds, characters streamed before the first visible one, mean characters held
    back after a delta) for one reply."""
    guard = guard_cls(system_prompt=prompt)
    first_visible = -1
    shown = 0
    held = []
    started = time.process_time()
    for i in range(0, len(reply), CHUNK):
        released = len(guard.feed(reply[i : i + CHUNK]))
        if released and first_visible < 0:
            first_visible = min(i + CHUNK, len(reply))
        shown += released
        held.append(min(i + CHUNK, len(reply)) - shown)
    guard.finish(reply)
    elapsed = time.process_time() - started
    first = first_visible if first_visible >= 0 else len(reply)
    return elapsed, first, statistics.fmean(held)


def measure(guards: dict, prompt: str, replies: list[str], repeats: int) -> dict:
    """Medians per guard; the guards take turns on each reply, so load on the machine
    falls on both alike. `guards`: name -> (class, MODERATION_STREAM_HOLDBACK_CHARS)."""
    from django.conf import settings

    per_k: dict[str, list[float]] = {name: [] for name in guards}
    firsts: dict[str, list[int]] = {name: [] for name in guards}
    helds: dict[str, list[float]] = {name: [] for name in guards}
    for r in range(repeats + 1):
        reply = replies[r % len(replies)]
        for name, (guard_cls, holdback) in guards.items():
            settings.MODERATION_STREAM_HOLDBACK_CHARS = holdback
            cpu, first, held = run(guard_cls, prompt, reply)
            if r:  # the first round warms caches (matcher, regexes, fold table)
                per_k[name].append(cpu / len(reply) * 1000)
                firsts[name].append(first)
                helds[name].append(held)
    return {
        name: {
            "cpu_ms_per_1k": statistics.median(per_k[name]) * 1000,
            "first_visible": statistics.median(firsts[name]),
            "first_visible_max": max(firsts[name]),
            "held": statistics.median(helds[name]),
        }
        for name in guards
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=51)
    parser.add_argument("--before-ref", default="")
    args = parser.parse_args()
    ref = args.before_ref or before_minimal_holdback()
    configure()
    from django.conf import settings

    from chatbot.moderation import leak, stream

    before = load_before(ref)
    prompt = system_prompt()
    replies = [text_of(random.Random(100 + i), 1000) for i in range(args.repeats)]

    started = time.perf_counter()
    leak.leak_matcher(prompt, (), settings.MODERATION_CANARY_PATTERN, 40)
    build_ms = (time.perf_counter() - started) * 1000
    for reply in replies:  # an ordinary reply is never blocked (or the bench is wrong)
        stream.OutputGuard(system_prompt=prompt).finish(reply)

    configs = {
        "defaults": {},
        "terms+pattern": {
            "MODERATION_BLOCKED_TERMS": ["refund scam", "退款骗局"],
            "MODERATION_BLOCKED_PATTERNS": [r"(?i)\bfree\s+bitcoin\b", r"\bBTC-[0-9a-f]{20,}\b"],
        },
    }
    print(f"system prompt {len(prompt)} chars, replies ~{len(replies[0])} chars in {CHUNK}-char")
    print(f"deltas, {args.repeats} runs each, medians; before = {ref}\n")
    print(
        f"{'config':<15} {'guard':<7} {'CPU ms / 1k chars':>18} {'first visible (chars)':>22}"
        f"  {'held after a delta (mean chars)':>32}"
    )
    for config, overrides in configs.items():
        for key, value in overrides.items():
            setattr(settings, key, value)
        guards = {"before": (before.OutputGuard, 48), "after": (stream.OutputGuard, 0)}
        for name, row in measure(guards, prompt, replies, args.repeats).items():
            print(
                f"{config:<15} {name:<7} {row['cpu_ms_per_1k']:>18.2f} "
                f"{row['first_visible']:>14.0f} (max {row['first_visible_max']:>3})"
                f"  {row['held']:>32.1f}"
            )
    print(f"\nleak matcher build for the 2,000-char prompt (once per prompt): {build_ms:.1f} ms")


if __name__ == "__main__":
    main()
