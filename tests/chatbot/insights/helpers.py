"""Summary rows of known figures for the dashboard tests."""

from datetime import date, datetime, time
from decimal import Decimal

from django.utils import timezone

from chatbot.insights.models import ConversationSummary

Outcome = ConversationSummary.Outcome
D1, D2, D3 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)


def summary_row(*, widget_key, day, outcome, cost="0", latencies=(), csat=None, pickup=None):
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
        csat=csat,
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
        csat=5,
    )
    summary_row(
        widget_key=site_a,
        day=D1,
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="0.030",
        latencies=[300],
        csat=4,
    )
    summary_row(
        widget_key=site_a,
        day=D1,
        outcome=Outcome.HANDED_OFF,
        cost="0.020",
        latencies=[400],
        csat=2,
        pickup=30,
    )
    summary_row(widget_key=site_a, day=D1, outcome=Outcome.ABANDONED)
    summary_row(
        widget_key=site_b,
        day=D2,
        outcome=Outcome.HANDED_OFF,
        cost="0.040",
        latencies=[1000, 2000],
        csat=3,
        pickup=90,
    )
    summary_row(
        widget_key=site_b,
        day=D2,
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="0.020",
        latencies=[500],
        csat=5,
    )
    summary_row(widget_key=site_a, day=D2, outcome=Outcome.ABANDONED, cost="0.005", latencies=[600])
    summary_row(
        widget_key=site_a,
        day=date(2026, 11, 1),
        outcome=Outcome.RESOLVED_BY_BOT,
        cost="9",
        latencies=[99999],
        csat=1,
    )
