"""Bench: the managers' dashboard over 100,000 conversations (summary rows) on Postgres.

    createdb -h 127.0.0.1 -U postgres chatdesk_bench   # once: a database of its own
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatdesk_bench \
        .venv/bin/python bench/dashboard.py [--conversations 100000] [--runs 15]

Fills `insights_conversationsummary` with N rows over the last 90 days (three widget keys,
1-6 bot answers each with a latency, a third handed off, CSAT on a quarter) and 200 open
knowledge gaps, then times, side by side:

* **raw SQL**: the statement that fetches the days' rollups (`DailyRollup`, what the page's
  figures come from) sent straight through the cursor: the floor for these figures;
* **selector**: `dashboard_build` (those queries plus the gaps, and shaping the figures);
* **page**: GET /admin/insights/dashboard/ through Django's test client as a manager:
  session, permission check, filters, the selector, seven charts as SVG, the tables;
* **CSV**: one chart's export.

For the 90-day range (every row) and the default 30 days, and one widget key. Medians and
p95 of `--runs` runs after one warm-up; the budget is the page's median ≤ 500 ms.
The database is migrated first; the bench's own rows (and every day's rollup: use a
database of its own) are deleted before and after.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUDGET_MS = 500


def configure() -> None:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_bench")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_DEBUG": "false",
            "REDIS_URL": "",
            "EVENT_BUS_URL": "",
            "CELERY_BROKER_URL": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    if not os.environ["DATABASE_URL"].startswith("postgres"):
        sys.exit("bench/dashboard.py measures Postgres: set DATABASE_URL=postgres://...")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    call_command("migrate", verbosity=0)


def fill(n: int, seed: int = 7):
    from django.utils import timezone

    from accounts.models import WidgetKey
    from chatbot.insights.models import ConversationSummary
    from chatbot.knowledge.models import KnowledgeGap

    rng = random.Random(seed)
    keys = [WidgetKey.objects.create(name=f"bench-dashboard {i}") for i in range(3)]
    today = timezone.localdate()
    outcomes = ConversationSummary.Outcome
    batch = []
    for i in range(n):
        day = today - timedelta(days=rng.randrange(90))
        started = timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(
            seconds=rng.randrange(86_000)
        )
        handed_off = rng.random() < 0.3
        outcome = (
            outcomes.HANDED_OFF
            if handed_off
            else rng.choice([outcomes.RESOLVED_BY_BOT] * 4 + [outcomes.ABANDONED])
        )
        replies = rng.randint(1, 6)
        batch.append(
            ConversationSummary(
                widget_key=keys[i % 3],
                day=day,
                started_at=started,
                ended_at=started + timedelta(minutes=5),
                outcome=outcome,
                customer_messages=replies,
                bot_replies=replies,
                handed_off=handed_off,
                pickup_seconds=rng.uniform(5, 600) if handed_off else None,
                csat_satisfied=(rng.random() < 0.8) if rng.random() < 0.25 else None,
                cost=Decimal(rng.randint(100, 50_000)) / Decimal(10_000_000),
                reply_latencies_ms=[int(rng.lognormvariate(7, 0.5)) for _ in range(replies)],
                source_last_message_at=started,
                source_status="closed",
                computed_at=started,
            )
        )
        if len(batch) == 5000:
            ConversationSummary.objects.bulk_create(batch)
            batch = []
    ConversationSummary.objects.bulk_create(batch)
    KnowledgeGap.objects.bulk_create(
        KnowledgeGap(
            normalized_text=f"bench dashboard question {i}",
            question=f"Bench question number {i}?",
            count=rng.randint(1, 50),
            widget_key=keys[i % 3],
        )
        for i in range(200)
    )
    from django.db import connection

    from chatbot.insights.summary import daily_rollup_rebuild

    daily_rollup_rebuild(days={today - timedelta(days=d) for d in range(90)})  # as the writer
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE insights_conversationsummary")
    return keys


def cleanup() -> None:
    from accounts.models import WidgetKey
    from chatbot.insights.models import ConversationSummary
    from chatbot.knowledge.models import KnowledgeGap

    keys = WidgetKey.objects.filter(name__startswith="bench-dashboard ")
    ConversationSummary.objects.filter(widget_key__in=keys).delete()
    KnowledgeGap.objects.filter(normalized_text__startswith="bench dashboard question ").delete()
    keys.delete()


def timed(fn, runs: int) -> list[float]:
    fn()  # warm-up: plans, caches, templates
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    configure()

    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import User
    from chatbot.insights import selectors
    from chatbot.insights.models import ConversationSummary, DailyRollup

    cleanup()
    DailyRollup.objects.all().delete()
    started = time.perf_counter()
    keys = fill(args.conversations)
    print(f"{args.conversations:,} summary rows written in {time.perf_counter() - started:.1f} s")

    manager, _ = User.objects.get_or_create(
        username="bench-dashboard-manager", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(manager)
    today = timezone.localdate()
    scenarios = [
        ("90 days, all keys", today - timedelta(days=89), None),
        ("30 days, all keys", today - timedelta(days=29), None),
        ("90 days, one key", today - timedelta(days=89), keys[0]),
    ]
    print(
        f"\n{'scenario':<20} {'rows':>7}  {'raw SQL':>9} {'selector':>9} {'page':>9} "
        f"{'page p95':>9} {'CSV':>8}  page/raw"
    )
    failed = False
    try:
        for name, start, key in scenarios:
            filters = selectors.DashboardFilters(start=start, end=today, widget_key=key)
            params = {"start": start.isoformat(), "end": today.isoformat()}
            sql_params = [start, today]
            if key is not None:
                params["widget_key"] = key.public_key
            rows = ConversationSummary.objects.filter(day__range=(start, today))
            if key is not None:
                rows = rows.filter(widget_key=key)
            rows = rows.count()

            def raw(sql_params=sql_params, key=key):
                # The page's figures come from the days' rollups: this statement, plus gaps.
                part = "all" if key is None else str(key.pk)
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT day, figures -> %s FROM insights_dailyrollup"
                        " WHERE day BETWEEN %s AND %s",
                        [part, *sql_params[:2]],
                    )
                    cursor.fetchall()

            def page(params=params):
                response = client.get("/admin/insights/dashboard/", params)
                assert response.status_code == 200, response.status_code

            def csv(params=params):
                response = client.get("/admin/insights/dashboard/", {**params, "export": "cost"})
                assert response.status_code == 200, response.status_code

            raw_ms = statistics.median(timed(raw, args.runs))
            selector_ms = statistics.median(
                timed(lambda f=filters: selectors.dashboard_build(filters=f), args.runs)
            )
            page_samples = timed(page, args.runs)
            page_ms = statistics.median(page_samples)
            page_p95 = statistics.quantiles(page_samples, n=20)[-1]
            csv_ms = statistics.median(timed(csv, args.runs))
            failed |= page_ms > BUDGET_MS
            print(
                f"{name:<20} {rows:>7,}  {raw_ms:>7.1f}ms {selector_ms:>7.1f}ms {page_ms:>7.1f}ms "
                f"{page_p95:>7.1f}ms {csv_ms:>6.1f}ms  {page_ms / raw_ms:>5.2f}x"
            )
    finally:
        manager.delete()
        cleanup()
        DailyRollup.objects.all().delete()
    print(f"\nBudget: page median <= {BUDGET_MS} ms: {'NOT MET' if failed else 'met'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
