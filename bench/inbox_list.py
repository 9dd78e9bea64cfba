"""Bench: the staff inbox's list with 10,000 conversations (target: ≤ 300 ms, constant queries).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatdesk_bench_inbox \\
        .venv/bin/python bench/inbox_list.py [--conversations 10000] [--runs 30]

Needs Postgres (what production runs; the DATABASE_URL's database is created if missing,
migrated, and filled once: 10,000 conversations across the handling states, two messages
each, some open moderation flags and read markers). For each inbox view it times, side by
side:

* endpoint: `GET /admin/inbox/api/conversations/?view=...` through Django's full stack
  (session auth, permission check, the selector, masking and JSON) as a Support agent;
* selector: `inbox_conversations()` alone (the one SQL statement and row building);

and prints the median and p95 of `--runs` runs, the ratio endpoint/selector, and the number
of SQL queries per request (it must not depend on the rows).
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import database_create_if_missing  # noqa: E402


def setup_django(database_url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def fill(total: int):
    from datetime import timedelta

    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import User
    from accounts.roles import AGENT_GROUP
    from conversations.models import Conversation, InboxReadMarker, Message, ModerationFlag

    call_command("migrate", verbosity=0)
    agent, created = User.objects.get_or_create(
        username="bench-agent", defaults={"is_staff": True, "first_name": "Bench"}
    )
    if created:
        agent.groups.add(Group.objects.get(name=AGENT_GROUP))
    have = Conversation.objects.count()
    if have >= total:
        return agent
    print(f"filling: {total - have} conversations…", flush=True)
    now = timezone.now()
    states = ["bot", "waiting", "human", "followup", "closed"]
    batch = 1000
    for start in range(have, total, batch):
        customers = User.objects.bulk_create(
            [
                User(username=f"bench-visitor-{i}", is_visitor=(i % 3 != 0), email="")
                for i in range(start, min(total, start + batch))
            ]
        )
        conversations = []
        for offset, customer in enumerate(customers):
            i = start + offset
            state = states[i % len(states)]
            conversations.append(
                Conversation(
                    customer=customer,
                    status="closed" if state == "closed" else "open",
                    handling="bot" if state == "closed" else state,
                    assignee=agent if state == "human" and i % 10 == 2 else None,
                    handoff_requested_at=now - timedelta(seconds=i)
                    if state in ("waiting", "human", "followup")
                    else None,
                    last_message_at=now - timedelta(seconds=i),
                )
            )
        Conversation.objects.bulk_create(conversations)
        messages = []
        for c in conversations:
            messages.append(
                Message(conversation=c, role="user", content="Where is my parcel, jo@example.com?")
            )
            messages.append(Message(conversation=c, role="assistant", content="Let me check."))
        Message.objects.bulk_create(messages)
        ModerationFlag.objects.bulk_create(
            [
                ModerationFlag(message=m, source="input", action="flagged", categories=["pii"])
                for m in messages[::40]
            ]
        )
        InboxReadMarker.objects.bulk_create(
            [InboxReadMarker(user=agent, conversation=c, read_at=now) for c in conversations[::7]]
        )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return agent


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up (connection, caches)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_bench_inbox"
    )
    if not database_url.startswith("postgres"):
        sys.exit("bench/inbox_list.py needs a Postgres DATABASE_URL")
    database_create_if_missing(database_url)
    setup_django(database_url)

    from django.db import connection
    from django.test import Client

    from conversations.inbox.selectors import VIEWS, inbox_conversations
    from conversations.inbox.views import row_json
    from conversations.models import Conversation

    agent = fill(args.conversations)
    client = Client()
    client.force_login(agent)
    print(
        f"{Conversation.objects.count()} conversations, {args.runs} runs per view, "
        f"page size 50; milliseconds"
    )
    header = f"{'view':<11}{'endpoint p50':>13}{'p95':>8}{'selector p50':>14}"
    print(f"{header}{'ratio':>7}{'queries':>9}")
    for view in VIEWS:
        url = f"/admin/inbox/api/conversations/?view={view}"

        def endpoint(url=url):
            response = client.get(url)
            assert response.status_code == 200, response.content[:200]

        def selector(view=view):
            [row_json(c) for c in inbox_conversations(agent=agent, view=view)]

        queries: list[str] = []

        def count(run, sql, *args, queries=queries):
            queries.append(sql)
            return run(sql, *args)

        with connection.execute_wrapper(count):
            endpoint()
        full = timed(endpoint, args.runs)
        bare = timed(selector, args.runs)
        p50, p95 = statistics.median(full), statistics.quantiles(full, n=20)[-1]
        bare50 = statistics.median(bare)
        print(
            f"{view:<11}{p50:>13.1f}{p95:>8.1f}{bare50:>14.1f}{p50 / bare50:>7.2f}{len(queries):>9}"
        )


if __name__ == "__main__":
    main()
