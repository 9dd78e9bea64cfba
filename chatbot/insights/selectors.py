"""Reads for the dashboard: a fixed number of queries, whatever the range or the number of
conversations: one aggregate by day over the summary rows, the days' latency histograms
(at most one row per day), the top knowledge gaps."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.utils import timezone

from accounts.models import WidgetKey
from chatbot.knowledge.models import KnowledgeGap

from .latency import ALL_KEYS, histogram_count, histogram_merge, histogram_percentile
from .models import ConversationSummary, DailyReplyLatency

Outcome = ConversationSummary.Outcome


@dataclass(frozen=True, slots=True)
class DashboardFilters:
    start: date
    end: date
    widget_key: WidgetKey | None = None

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


@dataclass(slots=True)
class Figures:
    """One day's figures, or the whole range's (`day` None). Sums only, so days add up."""

    day: date | None = None
    conversations: int = 0
    resolved_by_bot: int = 0
    handed_off: int = 0
    abandoned: int = 0
    picked_up: int = 0
    pickup_seconds_sum: float = 0.0
    csat_ratings: int = 0
    csat_satisfied: int = 0  # thumbs up
    cost: Decimal = Decimal("0")
    resolved_cost: Decimal = Decimal("0")
    dont_know_replies: int = 0
    replies: int = 0  # bot answers with a latency
    latency_p50_ms: int | None = None
    latency_p95_ms: int | None = None

    def add(self, other: "Figures") -> None:
        for name in (
            "conversations",
            "resolved_by_bot",
            "handed_off",
            "abandoned",
            "picked_up",
            "pickup_seconds_sum",
            "csat_ratings",
            "csat_satisfied",
            "cost",
            "resolved_cost",
            "dont_know_replies",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def handoff_rate(self) -> float | None:
        return self.handed_off / self.conversations if self.conversations else None

    @property
    def pickup_mean_seconds(self) -> float | None:
        return self.pickup_seconds_sum / self.picked_up if self.picked_up else None

    @property
    def csat_unsatisfied(self) -> int:
        return self.csat_ratings - self.csat_satisfied

    @property
    def csat_rate(self) -> float | None:
        """CSAT: the share of ratings that were satisfied (thumbs up)."""
        return self.csat_satisfied / self.csat_ratings if self.csat_ratings else None

    @property
    def cost_per_conversation(self) -> Decimal | None:
        return self.cost / self.conversations if self.conversations else None

    @property
    def cost_per_resolved(self) -> Decimal | None:
        return self.resolved_cost / self.resolved_by_bot if self.resolved_by_bot else None


@dataclass(frozen=True, slots=True)
class GapRow:
    question: str
    occurrences: int


@dataclass(slots=True)
class Dashboard:
    filters: DashboardFilters
    days: list[Figures]
    total: Figures
    knowledge_gaps: list[GapRow]


def _summaries(filters: DashboardFilters):
    rows = ConversationSummary.objects.filter(day__range=(filters.start, filters.end))
    if filters.widget_key is not None:
        rows = rows.filter(widget_key=filters.widget_key)
    return rows


def _daily(filters: DashboardFilters) -> dict[date, Figures]:
    def outcome(value):
        return Count("id", filter=Q(outcome=value))

    rows = (
        _summaries(filters)
        .values("day")
        .annotate(
            conversations=Count("id"),
            n_resolved=outcome(Outcome.RESOLVED_BY_BOT),
            n_handed_off=outcome(Outcome.HANDED_OFF),
            n_abandoned=outcome(Outcome.ABANDONED),
            picked_up=Count("pickup_seconds"),
            pickup_seconds_sum=Sum("pickup_seconds"),
            csat_ratings=Count("csat_satisfied"),
            n_satisfied=Count("id", filter=Q(csat_satisfied=True)),
            cost_total=Sum("cost"),
            resolved_cost=Sum("cost", filter=Q(outcome=Outcome.RESOLVED_BY_BOT)),
            dont_know_total=Sum("dont_know_replies"),
        )
        .order_by("day")
    )
    daily = {}
    for row in rows:
        daily[row["day"]] = Figures(
            day=row["day"],
            conversations=row["conversations"],
            resolved_by_bot=row["n_resolved"],
            handed_off=row["n_handed_off"],
            abandoned=row["n_abandoned"],
            picked_up=row["picked_up"],
            pickup_seconds_sum=row["pickup_seconds_sum"] or 0.0,
            csat_ratings=row["csat_ratings"],
            csat_satisfied=row["n_satisfied"],
            cost=row["cost_total"] or Decimal("0"),
            resolved_cost=row["resolved_cost"] or Decimal("0"),
            dont_know_replies=row["dont_know_total"] or 0,
        )
    return daily


def _latencies(filters: DashboardFilters) -> dict[date | None, tuple[int, int, int]]:
    """(answers, p50, p95) by day, and for the whole range under the key None, from the
    days' histograms (DailyReplyLatency) of the widget key, or of all keys."""
    wanted = ALL_KEYS if filters.widget_key is None else str(filters.widget_key.pk)
    rows = DailyReplyLatency.objects.filter(day__range=(filters.start, filters.end))
    total: dict = {}
    figures = {}
    # Only the wanted key's histogram leaves the database (jsonb -> key).
    for day, histogram in rows.values_list("day", f"histograms__{wanted}"):
        histogram = histogram or {}
        histogram_merge(total, histogram)
        figures[day] = _percentiles(histogram)
    figures[None] = _percentiles(total)
    return figures


def _percentiles(histogram: dict) -> tuple[int, int | None, int | None]:
    return (
        histogram_count(histogram),
        histogram_percentile(histogram, 0.5),
        histogram_percentile(histogram, 0.95),
    )


def _knowledge_gaps(filters: DashboardFilters, limit: int) -> list[GapRow]:
    """Open gaps last seen in the range, most frequent first. The knowledge base keeps one
    row per question with its running count (chatbot.knowledge), so `occurrences` is that
    count, not only the range's; a gap belongs to the widget key it was first seen on."""

    def moment(day: date, at: time) -> datetime:
        return timezone.make_aware(datetime.combine(day, at))

    gaps = KnowledgeGap.objects.filter(
        status=KnowledgeGap.Status.OPEN,
        last_seen_at__gte=moment(filters.start, time.min),
        last_seen_at__lt=moment(filters.end + timedelta(days=1), time.min),
    )
    if filters.widget_key is not None:
        gaps = gaps.filter(widget_key=filters.widget_key)
    rows = gaps.order_by("-count", "-last_seen_at").values_list("question", "count")[:limit]
    return [GapRow(question=question, occurrences=count) for question, count in rows]


def dashboard_build(*, filters: DashboardFilters, gap_limit: int = 10) -> Dashboard:
    daily = _daily(filters)
    latencies = _latencies(filters)
    days, total = [], Figures()
    for day in filters.days():
        figures = daily.get(day) or Figures(day=day)
        figures.replies, figures.latency_p50_ms, figures.latency_p95_ms = latencies.get(
            day, (0, None, None)
        )
        total.add(figures)
        days.append(figures)
    total.replies, total.latency_p50_ms, total.latency_p95_ms = latencies.get(None, (0, None, None))
    return Dashboard(
        filters=filters,
        days=days,
        total=total,
        knowledge_gaps=_knowledge_gaps(filters, gap_limit),
    )
