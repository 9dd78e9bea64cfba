"""The dashboard's charts: each one's table (shown under the chart and exported as CSV, the
very same rows) and its SVG. Adding a chart is adding a `Chart` to `CHARTS`."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from . import charts
from .charts import Series, Svg
from .selectors import Dashboard, Figures


def _num(value, places: int = 1) -> str:
    """A cell: empty when there is no figure, else a plain number (no thousands separator,
    so spreadsheets read it)."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{Decimal(str(value)):.{places}f}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def _money(value) -> str:
    return _num(value, 6)


def _day_label(figures: Figures) -> str:
    return figures.day.strftime("%b %d") if figures.day else "Total"


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    description: str
    columns: Sequence[str]
    rows: Callable[[Dashboard], list[list[str]]]
    svgs: Callable[[Dashboard], list[Svg]]


def _per_day(row: Callable[[Figures], list[str]]) -> Callable[[Dashboard], list[list[str]]]:
    """Rows: one per day (ISO date first), then the range's total."""

    def rows(dashboard: Dashboard) -> list[list[str]]:
        out = [[f.day.isoformat(), *row(f)] for f in dashboard.days]
        out.append(["total", *row(dashboard.total)])
        return out

    return rows


def _labels(dashboard: Dashboard) -> list[str]:
    return [_day_label(f) for f in dashboard.days]


def _volume_svgs(d: Dashboard) -> list[Svg]:
    return [
        charts.bar_chart(
            ident="volume",
            title="Conversations per day",
            description=f"{d.total.conversations} conversations from "
            f"{d.filters.start} to {d.filters.end}.",
            labels=_labels(d),
            series=[Series("Conversations", [f.conversations for f in d.days])],
            fmt=lambda v: f"{v:g}",
        )
    ]


def _outcome_svgs(d: Dashboard) -> list[Svg]:
    t = d.total
    return [
        charts.bar_chart(
            ident="outcomes",
            title="Outcomes per day",
            description=f"Resolved by the bot {t.resolved_by_bot}, handed off {t.handed_off}, "
            f"abandoned {t.abandoned}.",
            labels=_labels(d),
            series=[
                Series("Resolved by the bot", [f.resolved_by_bot for f in d.days]),
                Series("Handed off", [f.handed_off for f in d.days]),
                Series("Abandoned", [f.abandoned for f in d.days]),
            ],
        )
    ]


def _handoff_svgs(d: Dashboard) -> list[Svg]:
    return [
        charts.line_chart(
            ident="handoff-rate",
            title="Handoff rate per day (%)",
            description=f"Over the range: {_percent(d.total.handoff_rate) or 'no'} % of "
            "conversations were handed to a person.",
            labels=_labels(d),
            series=[
                Series(
                    "Handoff rate",
                    [None if f.handoff_rate is None else 100 * f.handoff_rate for f in d.days],
                )
            ],
            fmt=lambda v: f"{v:.0f} %",
            top=100,
        ),
        charts.line_chart(
            ident="pickup",
            title="Mean pickup time per day (seconds)",
            description="Seconds from the handoff request until a person took the "
            f"conversation; over the range {_num(d.total.pickup_mean_seconds) or 'none'}.",
            labels=_labels(d),
            series=[Series("Mean pickup", [f.pickup_mean_seconds for f in d.days])],
            fmt=lambda v: f"{v:.0f} s",
        ),
    ]


def _csat_svgs(d: Dashboard) -> list[Svg]:
    return [
        charts.line_chart(
            ident="csat",
            title="CSAT per day (% satisfied)",
            description=f"{d.total.csat_ratings} ratings, "
            f"{_percent(d.total.csat_rate) or 'no'} % satisfied.",
            labels=_labels(d),
            series=[
                Series(
                    "CSAT",
                    [None if f.csat_rate is None else 100 * f.csat_rate for f in d.days],
                )
            ],
            fmt=lambda v: f"{v:.0f} %",
            top=100,
        ),
        charts.bar_chart(
            ident="csat-ratings",
            title="Ratings per day",
            description=f"Satisfied {d.total.csat_satisfied}, "
            f"unsatisfied {d.total.csat_unsatisfied}.",
            labels=_labels(d),
            series=[
                Series("Satisfied", [f.csat_satisfied for f in d.days]),
                Series("Unsatisfied", [f.csat_unsatisfied for f in d.days]),
            ],
        ),
    ]


def _cost_svgs(d: Dashboard) -> list[Svg]:
    def money(value):
        return None if value is None else float(value)

    return [
        charts.line_chart(
            ident="cost",
            title="Cost per conversation and per bot-resolved conversation",
            description=f"Total cost {_money(d.total.cost)}; per conversation "
            f"{_money(d.total.cost_per_conversation) or 'none'}; per bot-resolved "
            f"conversation {_money(d.total.cost_per_resolved) or 'none'}.",
            labels=_labels(d),
            series=[
                Series("Per conversation", [money(f.cost_per_conversation) for f in d.days]),
                Series(
                    "Per bot-resolved conversation", [money(f.cost_per_resolved) for f in d.days]
                ),
            ],
            fmt=lambda v: f"{v:.4f}",
        )
    ]


def _latency_svgs(d: Dashboard) -> list[Svg]:
    return [
        charts.line_chart(
            ident="latency",
            title="Reply latency per day, p50 and p95 (ms)",
            description=f"{d.total.replies} bot answers; p50 "
            f"{_num(d.total.latency_p50_ms) or 'none'} ms, p95 "
            f"{_num(d.total.latency_p95_ms) or 'none'} ms.",
            labels=_labels(d),
            series=[
                Series("p50", [f.latency_p50_ms for f in d.days]),
                Series("p95", [f.latency_p95_ms for f in d.days]),
            ],
            fmt=lambda v: f"{v:.0f} ms",
        )
    ]


def _gap_svgs(d: Dashboard) -> list[Svg]:
    return [
        charts.hbar_chart(
            ident="gaps",
            title="Top knowledge gaps",
            description="Questions the knowledge base had no answer for, most frequent first.",
            items=[(g.question, g.occurrences) for g in d.knowledge_gaps],
        )
    ]


CHARTS: tuple[Chart, ...] = (
    Chart(
        key="volume",
        title="Conversations per day",
        description="Conversations by the day they started.",
        columns=["day", "conversations"],
        rows=_per_day(lambda f: [_num(f.conversations)]),
        svgs=_volume_svgs,
    ),
    Chart(
        key="outcomes",
        title="Resolved by the bot, handed off, abandoned",
        description="How each conversation ended (definitions in the docs).",
        columns=["day", "conversations", "resolved_by_bot", "handed_off", "abandoned"],
        rows=_per_day(
            lambda f: [
                _num(f.conversations),
                _num(f.resolved_by_bot),
                _num(f.handed_off),
                _num(f.abandoned),
            ]
        ),
        svgs=_outcome_svgs,
    ),
    Chart(
        key="handoffs",
        title="Handoff rate and pickup time",
        description="Share of conversations handed to a person, and how long they waited.",
        columns=[
            "day",
            "conversations",
            "handed_off",
            "handoff_rate_percent",
            "picked_up",
            "mean_pickup_seconds",
        ],
        rows=_per_day(
            lambda f: [
                _num(f.conversations),
                _num(f.handed_off),
                _percent(f.handoff_rate),
                _num(f.picked_up),
                _num(f.pickup_mean_seconds),
            ]
        ),
        svgs=_handoff_svgs,
    ),
    Chart(
        key="csat",
        title="Customer satisfaction (CSAT)",
        description="The customer's thumbs up or down once the conversation closed; CSAT is "
        "the share of satisfied ratings.",
        columns=["day", "ratings", "satisfied", "unsatisfied", "csat_percent"],
        rows=_per_day(
            lambda f: [
                _num(f.csat_ratings),
                _num(f.csat_satisfied),
                _num(f.csat_unsatisfied),
                _percent(f.csat_rate),
            ]
        ),
        svgs=_csat_svgs,
    ),
    Chart(
        key="cost",
        title="Cost",
        description="Provider cost (the ledger, at catalogue prices) per conversation and "
        "per conversation the bot resolved.",
        columns=[
            "day",
            "conversations",
            "cost",
            "cost_per_conversation",
            "resolved_by_bot",
            "cost_per_bot_resolved",
        ],
        rows=_per_day(
            lambda f: [
                _num(f.conversations),
                _money(f.cost),
                _money(f.cost_per_conversation),
                _num(f.resolved_by_bot),
                _money(f.cost_per_resolved),
            ]
        ),
        svgs=_cost_svgs,
    ),
    Chart(
        key="latency",
        title="Reply latency",
        description="Time for a bot answer, p50 and p95 over every answer in range.",
        columns=["day", "replies", "p50_ms", "p95_ms"],
        rows=_per_day(lambda f: [_num(f.replies), _num(f.latency_p50_ms), _num(f.latency_p95_ms)]),
        svgs=_latency_svgs,
    ),
    Chart(
        key="gaps",
        title="Top knowledge gaps",
        description="What customers asked that the knowledge base could not answer.",
        columns=["question", "occurrences"],
        rows=lambda d: [[g.question, _num(g.occurrences)] for g in d.knowledge_gaps],
        svgs=_gap_svgs,
    ),
)
CHARTS_BY_KEY = {chart.key: chart for chart in CHARTS}
