"""Summary rows of known figures for the dashboard tests."""

from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone

from chatbot.insights.models import ConversationSummary
from chatbot.insights.summary import daily_rollup_rebuild
from chatbot.knowledge.models import KnowledgeGap

Outcome = ConversationSummary.Outcome
D1, D2, D3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


def summary_row(
    *, widget_key, day, outcome, cost="0", latencies=(), csat_satisfied=None, pickup=None
):
    started = timezone.make_aware(datetime.combine(day, time(10, 0)))
    return ConversationSummary.objects.create(
        widget_key=widget_key,
        day=day,
        started_at=started,
        ended_at=started,
        outcome=outcome,
        customer_messages=1,
        handed_off=outcome == Outcome.HANDED_OFF,
        pickup_seconds=pickup,
        csat_satisfied=csat_satisfied,
        cost=Decimal(cost),
        reply_latencies_ms=list(latencies),
        source_last_message_at=started,
        source_status="closed",
        computed_at=started,
    )


def known_rows(site_a, site_b) -> None:
    """7 conversations from D1 to D3 (none on D3), plus one before the range."""
    summary_row(
        widget_key=site_a,
        day=D1,
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="0.010",
        latencies=[100, 200],
        csat_satisfied=True,
    )
    summary_row(
        widget_key=site_a,
        day=D1,
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="0.030",
        latencies=[300],
        csat_satisfied=True,
    )
    summary_row(
        widget_key=site_a,
        day=D1,
        outcome=Outcome.HANDED_OFF,
        cost="0.020",
        latencies=[400],
        csat_satisfied=False,
        pickup=30,
    )
    summary_row(widget_key=site_a, day=D1, outcome=Outcome.ABANDONED)
    summary_row(
        widget_key=site_b,
        day=D2,
        outcome=Outcome.HANDED_OFF,
        cost="0.040",
        latencies=[1000, 2000],
        csat_satisfied=False,
        pickup=90,
    )
    summary_row(
        widget_key=site_b,
        day=D2,
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="0.020",
        latencies=[500],
        csat_satisfied=True,
    )
    summary_row(widget_key=site_a, day=D2, outcome=Outcome.ABANDONED, cost="0.005", latencies=[600])
    summary_row(
        widget_key=site_a,
        day=date(2026, 11, 1),
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="9",
        latencies=[99999],
        csat_satisfied=False,
    )
    daily_rollup_rebuild(days=[date(2026, 11, 1), D1, D2])  # as the writer does


def known_gaps(site_a, site_b) -> None:
    """Three open gaps seen in the range; a dismissed one and one seen before are left out."""
    for question, count, site, seen, status in [
        ("How do I return shoes?", 5, site_a, D1, "open"),
        ("=HYPERLINK(1)", 3, site_a, D2, "open"),  # a spreadsheet formula, in the CSV
        ("Do you ship to Mars?", 2, site_b, D3, "open"),
        ("Is this a test?", 9, site_a, D2, "dismissed"),
        ("Old question", 7, site_a, date(2026, 10, 30), "open"),
    ]:
        gap = KnowledgeGap.objects.create(
            normalized_text=question.lower(),
            question=question,
            count=count,
            widget_key=site,
            status=status,
        )
        seen_at = timezone.make_aware(datetime.combine(seen, time(23, 30)))
        KnowledgeGap.objects.filter(pk=gap.pk).update(last_seen_at=seen_at)
