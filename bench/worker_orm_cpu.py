"""Micro-bench: CPU time per call of the worker's history read and reply finish.

    BENCH_DATABASE_URL=postgres://... .venv/bin/python bench/worker_orm_cpu.py [--calls 2000]
    .venv/bin/python bench/worker_orm_cpu.py --sqlite

Times `chatbot.prompt.context.history_for` on a 20-message conversation (a staff member
took part, one message blocked by moderation), `chatbot.replies.lifecycle.reply_complete`
(the reply's write and the conversation's stamp), each as it is now ("now") and with the
ORM's way it replaced ("orm": the queryset, the two UPDATEs), alternately in the same run.
(A prebuilt INSERT of the ledger's row was measured here too and dropped: within noise.)
CPU is the process's own (`time.process_time`): what the worker spends building,
compiling and reading queries, not the database's time. Wall time per call is printed too.
Each reply_complete is given a fresh claim first (not timed). Uses the bench's own database
(migrated on first use), or a throw-away SQLite file with --sqlite (where the finish goes
through the ORM either way).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(database_url: str) -> None:
    from bench.common import django_in_process

    django_in_process(database_url)


def conversation_create():
    """A conversation of 20 messages, customer and assistant in turn, a staff member in the
    middle and a blocked customer message; returns the last reply (answering the last
    question)."""
    from accounts.models import AgentProfile, User
    from conversations.models import Conversation, Message, ModerationFlag

    stamp = time.monotonic_ns()
    customer = User.objects.create(username=f"bench-customer-{stamp}")
    agent = User.objects.create(username=f"bench-agent-{stamp}", first_name="Alex", is_staff=True)
    AgentProfile.objects.create(user=agent, public_name="Alex P.")
    conversation = Conversation.objects.create(customer=customer)
    question = None
    for n in range(10):
        question = Message.objects.create(
            conversation=conversation, role="user", content=f"Where is my order {n}? " * 5
        )
        if n == 4:
            ModerationFlag.objects.create(message=question, source="input", action="blocked")
        role, author = ("staff", agent) if n in (5, 6) else ("assistant", None)
        Message.objects.create(
            conversation=conversation,
            role=role,
            author=author,
            content=f"It ships tomorrow, order {n}. " * 8,
            reply_to=question if role == "assistant" else None,
            token_count=40,
        )
    return Message.objects.create(
        conversation=conversation,
        role="assistant",
        status="pending",
        content="",
        reply_to=Message.objects.create(
            conversation=conversation, role="user", content="And the last one?"
        ),
    )


def timed(fn, calls: int, before=None) -> tuple[float, float]:
    """Median CPU and wall microseconds per call over `calls` (in batches of 50)."""
    cpu, wall = [], []
    for _ in range(calls // 50):
        batch_cpu = batch_wall = 0.0
        for _ in range(50):
            if before:
                before()
            c, w = time.process_time(), time.perf_counter()
            fn()
            batch_cpu += time.process_time() - c
            batch_wall += time.perf_counter() - w
        cpu.append(batch_cpu / 50 * 1e6)
        wall.append(batch_wall / 50 * 1e6)
    return statistics.median(cpu), statistics.median(wall)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    if args.sqlite:
        database_url = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    else:
        database_url = os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_bench"
        )
    configure(database_url)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chatbot.prompt.context import history_for
    from chatbot.replies import lifecycle

    reply = conversation_create()
    claimed = lifecycle.reply_claim(reply_id=reply.pk)
    reply = claimed.reply
    print(f"{connection.vendor}: history of {len(history_for(reply=reply))} items")

    def complete():
        assert lifecycle.reply_complete(
            claimed=claimed, content="Tomorrow.", model="gpt-4o-mini",
            prompt_tokens=300, completion_tokens=3, latency_ms=800,
        )  # fmt: skip

    def unfinish():
        # Back to pending with attempts 0, so the next claim takes it (not timed).
        nonlocal claimed
        type(reply).objects.filter(pk=reply.pk).update(status="pending", attempts=0)
        claimed = lifecycle.reply_claim(reply_id=reply.pk)

    # The ORM's way, as these were before (timed in the same run: this machine is shared).
    orm = {
        "history_for": ("chatbot.prompt.context._history_rows", _history_rows_orm),
        "reply_complete": ("chatbot.replies.lifecycle._finish_returning", lifecycle._finish_orm),
    }
    unfinish()
    for name, fn, before in (
        ("history_for", lambda: history_for(reply=reply), None),
        ("reply_complete", complete, unfinish),
    ):
        with CaptureQueriesContext(connection) as captured:
            fn()
        if before:
            before()
        target, replacement = orm[name]
        for label in ("now", "orm", "now", "orm"):
            with _patched(target, replacement if label == "orm" else None):
                timed(fn, 100, before)  # warm-up
                cpu, wall = timed(fn, args.calls, before)
            print(
                f"{name:21s} {label:3s} cpu {cpu:7.1f} us/call   wall {wall:7.1f} us/call"
                + (f"   ({len(captured.captured_queries)} statements)" if label == "now" else "")
            )


class _patched:
    """Replace module.attr (dotted) for the block; None: leave it."""

    def __init__(self, target: str, replacement):
        module, _, self.attr = target.rpartition(".")
        self.module = sys.modules[module]
        self.replacement = replacement

    def __enter__(self):
        self.saved = getattr(self.module, self.attr)
        if self.replacement is not None:
            setattr(self.module, self.attr, self.replacement)

    def __exit__(self, *exc):
        setattr(self.module, self.attr, self.saved)


def _history_rows_orm(*, conversation_id, until):
    """history_for's read as the ORM did it (the same rules, model instances)."""
    from django.conf import settings

    from conversations.models import Message

    queryset = (
        Message.objects.filter(
            conversation_id=conversation_id,
            role__in=["user", "assistant", "staff"],
            status="completed",
            created_at__lte=until,
        )
        .exclude(content="")
        .exclude(moderation_flags__action="blocked")
        .select_related("author__agent_profile")
        .order_by("-created_at", "-id")
        .only(
            "role",
            "content",
            "created_at",
            "token_count",
            "author__first_name",
            "author__username",
            "author__agent_profile__public_name",
        )
    )
    return list(queryset[: settings.CHAT_HISTORY_MESSAGES])


if __name__ == "__main__":
    main()
