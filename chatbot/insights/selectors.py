"""Reads for the dashboard: two queries whatever the range or the number of conversations:
the days' rollups (at most one row per day, chatbot.insights.models.DailyRollup) and the
top knowledge gaps."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.models import WidgetKey
from chatbot.knowledge.models import KnowledgeGap

from .latency import ALL_KEYS, histogram_count, histogram_merge, histogram_percentile
from .models import DailyRollup


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


def _figures(day: date, stored: dict | None) -> tuple[Figures, dict]:
    """A day's Figures (and its latency histogram) from its rollup for one key."""
    stored = stored or {}
    figures = Figures(
        day=day,
        conversations=stored.get("conversations", 0),
        resolved_by_bot=stored.get("resolved_by_bot", 0),
        handed_off=stored.get("handed_off", 0),
        abandoned=stored.get("abandoned", 0),
        picked_up=stored.get("picked_up", 0),
        pickup_seconds_sum=stored.get("pickup_seconds_sum", 0.0),
        csat_ratings=stored.get("csat_ratings", 0),
        csat_satisfied=stored.get("csat_satisfied", 0),
        cost=Decimal(stored.get("cost", "0")),
        resolved_cost=Decimal(stored.get("resolved_cost", "0")),
        dont_know_replies=stored.get("dont_know_replies", 0),
    )
    histogram = stored.get("latency") or {}
    figures.replies = histogram_count(histogram)
    figures.latency_p50_ms = histogram_percentile(histogram, 0.5)
    figures.latency_p95_ms = histogram_percentile(histogram, 0.95)
    return figures, histogram


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
    """Two queries: the days' rollups (only the wanted key's part leaves the database) and
    the top knowledge gaps."""
    wanted = ALL_KEYS if filters.widget_key is None else str(filters.widget_key.pk)
    stored = dict(
        DailyRollup.objects.filter(day__range=(filters.start, filters.end)).values_list(
            "day", f"figures__{wanted}"
        )
    )
    days, total, latency = [], Figures(), {}
    for day in filters.days():
        figures, histogram = _figures(day, stored.get(day))
        total.add(figures)
        histogram_merge(latency, histogram)
        days.append(figures)
    total.replies = histogram_count(latency)
    total.latency_p50_ms = histogram_percentile(latency, 0.5)
    total.latency_p95_ms = histogram_percentile(latency, 0.95)
    return Dashboard(
        filters=filters,
        days=days,
        total=total,
        knowledge_gaps=_knowledge_gaps(filters, gap_limit),
    )
