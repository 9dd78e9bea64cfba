"""Writing the summary rows: `conversation_summaries_write` for given conversations (on
close, by the backfill), `conversation_summaries_refresh` for the ones that went idle (beat).

A batch costs a fixed number of queries whatever its size (one aggregate per source:
messages, ledger, handoff timeline, feedback, knowledge gaps) and one upsert, so running it
twice rewrites the same values: idempotent by construction.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from chatbot.knowledge.models import KnowledgeGap
from chatbot.models import ProviderCall
from conversations.models import Conversation, ConversationEvent, Feedback, Message

from .latency import ALL_KEYS, histogram_add
from .models import ConversationSummary, DailyRollup

logger = logging.getLogger(__name__)

Outcome = ConversationSummary.Outcome


@dataclass(slots=True)
class _Facts:
    """What one conversation's sources say, gathered batch-wise before the row is built."""

    customer_messages: int = 0
    bot_replies: int = 0
    failed_replies: int = 0
    staff_messages: int = 0
    last_question_answered: bool = False
    last_exchange: tuple = ()  # the last question's id and its reply's id
    last_answer_dont_know: bool = False
    handed_off: bool = False
    pickup_seconds: float | None = None
    ended_at: datetime | None = None
    csat_satisfied: bool | None = None
    helpful_votes: int = 0
    unhelpful_votes: int = 0
    cost: Decimal = Decimal("0")
    latencies: list[int] = field(default_factory=list)
    dont_know_replies: int = 0


def summary_outcome(facts: _Facts) -> str:
    """Handed off wins (a person was asked for); else resolved when the customer's last
    question got a completed bot answer that was not a "don't know"; else abandoned."""
    if facts.handed_off:
        return Outcome.HANDED_OFF
    if facts.last_question_answered and not facts.last_answer_dont_know:
        return Outcome.RESOLVED_BY_BOT
    return Outcome.ABANDONED


def _bot_answers():
    # A bot answer the customer saw: completed, not folded into a later reply (debounce), and
    # generated or served from the cache (a refusal has no model and took no time).
    return Q(
        role=Message.Role.ASSISTANT, status=Message.Status.COMPLETED, merged_into__isnull=True
    ) & ~Q(model="")


def _gather_messages(ids: Sequence, facts: dict) -> None:
    rows = (
        Message.objects.filter(conversation_id__in=ids)
        .values("conversation_id")
        .annotate(
            customer=Count("pk", filter=Q(role=Message.Role.USER)),
            bot=Count("pk", filter=_bot_answers()),
            failed=Count("pk", filter=Q(role=Message.Role.ASSISTANT, status=Message.Status.FAILED)),
            staff=Count("pk", filter=Q(role=Message.Role.STAFF)),
        )
        .order_by()
    )
    for row in rows:
        f = facts[row["conversation_id"]]
        f.customer_messages, f.bot_replies = row["customer"], row["bot"]
        f.failed_replies, f.staff_messages = row["failed"], row["staff"]

    # The customer's last question and how the bot answered it (a merged reply hands the
    # answer to the later one, which then is the last question's reply).
    last_question = Message.objects.filter(
        conversation=OuterRef("pk"), role=Message.Role.USER
    ).order_by("-created_at", "-id")
    answered = Conversation.objects.filter(pk__in=ids).annotate(
        question_id=Subquery(last_question.values("id")[:1]),
        reply_status=Subquery(last_question.values("reply__status")[:1]),
        reply_model=Subquery(last_question.values("reply__model")[:1]),
        reply_id=Subquery(last_question.values("reply__id")[:1]),
    )
    for row in answered.values("pk", "question_id", "reply_status", "reply_model", "reply_id"):
        f = facts[row["pk"]]
        f.last_question_answered = row["reply_status"] == Message.Status.COMPLETED and bool(
            row["reply_model"]
        )
        f.last_exchange = (row["question_id"], row["reply_id"])

    latencies = (
        Message.objects.filter(_bot_answers(), conversation_id__in=ids, latency_ms__isnull=False)
        .order_by("created_at", "id")
        .values_list("conversation_id", "latency_ms")
    )
    for conversation_id, latency_ms in latencies:
        facts[conversation_id].latencies.append(latency_ms)


def _gather_cost(ids: Sequence, facts: dict) -> None:
    rows = (
        ProviderCall.objects.filter(reply__conversation_id__in=ids)
        .values("reply__conversation_id")
        .annotate(total=Sum("cost"))
        .order_by()
    )
    for row in rows:
        facts[row["reply__conversation_id"]].cost = row["total"] or Decimal("0")


Kind = ConversationEvent.Kind
# A person was involved: asked for (by the customer, the bot, a rule) or joined by staff.
HANDOFF_KINDS = (Kind.HANDOFF_REQUESTED, Kind.ASSIGNED, Kind.TAKEN_OVER)
PICKUP_KINDS = (Kind.ASSIGNED, Kind.TAKEN_OVER)


def _gather_handoffs(ids: Sequence, facts: dict) -> None:
    events = (
        ConversationEvent.objects.filter(
            conversation_id__in=ids, kind__in=[*HANDOFF_KINDS, Kind.CLOSED]
        )
        .order_by("created_at", "id")
        .values_list("conversation_id", "kind", "detail", "created_at")
    )
    for conversation_id, kind, detail, created_at in events:
        f = facts[conversation_id]
        if kind == Kind.CLOSED:
            f.ended_at = created_at
            continue
        f.handed_off = True
        # The first pickup from the queue: conversations.services measures it (request until
        # assigned or taken over) and records it on the event.
        if kind in PICKUP_KINDS and f.pickup_seconds is None:
            pickup = (detail or {}).get("pickup_seconds")
            if isinstance(pickup, int | float):
                f.pickup_seconds = float(pickup)


def _gather_feedback(ids: Sequence, facts: dict) -> None:
    rows = (
        Feedback.objects.filter(conversation_id__in=ids)
        .values("conversation_id")
        .annotate(
            csat_up=Count("pk", filter=Q(kind=Feedback.Kind.CSAT, vote=Feedback.Vote.UP)),
            csat_down=Count("pk", filter=Q(kind=Feedback.Kind.CSAT, vote=Feedback.Vote.DOWN)),
            helpful=Count("pk", filter=Q(kind=Feedback.Kind.HELPFULNESS, vote=Feedback.Vote.UP)),
            unhelpful=Count(
                "pk", filter=Q(kind=Feedback.Kind.HELPFULNESS, vote=Feedback.Vote.DOWN)
            ),
        )
        .order_by()
    )
    for row in rows:
        f = facts[row["conversation_id"]]
        if row["csat_up"] or row["csat_down"]:  # one CSAT per conversation (a constraint)
            f.csat_satisfied = bool(row["csat_up"])
        f.helpful_votes, f.unhelpful_votes = row["helpful"], row["unhelpful"]


def _gather_knowledge_gaps(ids: Sequence, facts: dict) -> None:
    """Gaps are kept grouped by question (chatbot.knowledge), each pointing at the latest
    message that raised it: a conversation counts the gaps that still point at it (a lower
    bound if the same question came again later, elsewhere). A gap on the last question
    whose answer was judged unsupported means the bot did not really answer it; a question
    that merely found no source may still have been answered (outside knowledge-only mode;
    inside it, the fallback has no model and is no answer anyway)."""
    gaps = KnowledgeGap.objects.filter(last_message__conversation_id__in=ids).values_list(
        "last_message__conversation_id", "last_message_id", "reason"
    )
    for conversation_id, message_id, reason in gaps:
        f = facts[conversation_id]
        f.dont_know_replies += 1
        if reason == KnowledgeGap.Reason.UNSUPPORTED and message_id in f.last_exchange:
            f.last_answer_dont_know = True


def _day(moment: datetime):
    return timezone.localtime(moment).date()


def conversation_summaries_write(*, conversation_ids: Iterable, now: datetime | None = None) -> int:
    """Compute and upsert the summary rows of these conversations; returns how many."""
    now = now or timezone.now()
    conversations = list(
        Conversation.objects.filter(pk__in=list(conversation_ids)).values(
            "pk", "widget_key_id", "created_at", "last_message_at", "status"
        )
    )
    if not conversations:
        return 0
    ids = [c["pk"] for c in conversations]
    facts: dict = defaultdict(_Facts)
    for gather in (
        _gather_messages,
        _gather_cost,
        _gather_handoffs,
        _gather_feedback,
        _gather_knowledge_gaps,
    ):
        gather(ids, facts)
    rows = []
    for c in conversations:
        f = facts[c["pk"]]
        rows.append(
            ConversationSummary(
                conversation_id=c["pk"],
                widget_key_id=c["widget_key_id"],
                day=_day(c["created_at"]),
                started_at=c["created_at"],
                ended_at=max(f.ended_at or c["last_message_at"], c["last_message_at"]),
                outcome=summary_outcome(f),
                customer_messages=f.customer_messages,
                bot_replies=f.bot_replies,
                failed_replies=f.failed_replies,
                staff_messages=f.staff_messages,
                handed_off=f.handed_off,
                pickup_seconds=f.pickup_seconds,
                csat_satisfied=f.csat_satisfied,
                helpful_votes=f.helpful_votes,
                unhelpful_votes=f.unhelpful_votes,
                cost=f.cost,
                reply_latencies_ms=f.latencies,
                dont_know_replies=f.dont_know_replies,
                source_last_message_at=c["last_message_at"],
                source_status=c["status"],
                computed_at=now,
            )
        )
    ConversationSummary.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["conversation"],
        update_fields=[
            f.name
            for f in ConversationSummary._meta.concrete_fields
            if f.name not in ("id", "conversation")
        ],
    )
    daily_rollup_rebuild(days={row.day for row in rows})
    return len(rows)


def _rollup_add(figures: dict, row: dict) -> None:
    outcome = row["outcome"]
    figures["conversations"] = figures.get("conversations", 0) + 1
    for name in ("resolved_by_bot", "handed_off", "abandoned"):
        figures[name] = figures.get(name, 0) + (outcome == name)
    if row["pickup_seconds"] is not None:
        figures["picked_up"] = figures.get("picked_up", 0) + 1
        figures["pickup_seconds_sum"] = (
            figures.get("pickup_seconds_sum", 0.0) + row["pickup_seconds"]
        )
    if row["csat_satisfied"] is not None:
        figures["csat_ratings"] = figures.get("csat_ratings", 0) + 1
        figures["csat_satisfied"] = figures.get("csat_satisfied", 0) + row["csat_satisfied"]
    figures["dont_know_replies"] = figures.get("dont_know_replies", 0) + row["dont_know_replies"]
    cost = Decimal(figures.get("cost", "0")) + row["cost"]
    figures["cost"] = str(cost)
    if outcome == Outcome.RESOLVED_BY_BOT:
        figures["resolved_cost"] = str(Decimal(figures.get("resolved_cost", "0")) + row["cost"])
    histogram_add(figures.setdefault("latency", {}), row["reply_latencies_ms"])


def daily_rollup_rebuild(*, days: Iterable[date]) -> None:
    """Recount each day's rollup from its summary rows (committed ones: call it outside a
    transaction). The day's row is locked while it is recounted, so of two writers the
    later one counts the other's rows too: nothing is lost or counted twice."""
    for day in sorted(set(days)):
        with transaction.atomic():
            rollup, _ = DailyRollup.objects.select_for_update().get_or_create(day=day)
            figures: dict = {}
            rows = (
                ConversationSummary.objects.filter(day=day)
                .values(
                    "widget_key_id",
                    "outcome",
                    "pickup_seconds",
                    "csat_satisfied",
                    "cost",
                    "dont_know_replies",
                    "reply_latencies_ms",
                )
                .iterator(chunk_size=2000)
            )
            for row in rows:
                _rollup_add(figures.setdefault(str(row["widget_key_id"] or ""), {}), row)
                _rollup_add(figures.setdefault(ALL_KEYS, {}), row)
            rollup.figures = figures
            rollup.save(update_fields=["figures", "updated_at"])


def conversation_summary_write(*, conversation_id) -> int:
    """One conversation (closed just now): the hook `conversation_close` calls through
    the task `chatbot.conversation_summary_write`."""
    return conversation_summaries_write(conversation_ids=[conversation_id])


def conversations_ended(*, now: datetime):
    """Closed, or idle for INSIGHTS_IDLE_MINUTES: ready to be summarised."""
    idle_before = now - timedelta(minutes=settings.INSIGHTS_IDLE_MINUTES)
    return Conversation.objects.filter(
        Q(status=Conversation.Status.CLOSED) | Q(last_message_at__lt=idle_before)
    )


def summaries_due(*, now: datetime, lookback_days: int | None = None):
    """Conversations that ended (closed, or idle for INSIGHTS_IDLE_MINUTES) and whose
    summary is missing or was computed before they moved on. The refresh looks back
    INSIGHTS_LOOKBACK_DAYS only (the recent part of the `conv_recent` index); older
    history is the backfill command's job (`lookback_days=None`: all of it)."""
    # A rating given after the row was written (CSAT comes once closed) makes it stale too.
    newer_feedback = Feedback.objects.filter(
        conversation=OuterRef("conversation"), updated_at__gt=OuterRef("computed_at")
    )
    fresh = ConversationSummary.objects.filter(
        conversation=OuterRef("pk"),
        source_last_message_at=OuterRef("last_message_at"),
        source_status=OuterRef("status"),
    ).exclude(Exists(newer_feedback))
    due = conversations_ended(now=now).exclude(Exists(fresh))
    if lookback_days is not None:
        due = due.filter(last_message_at__gte=now - timedelta(days=lookback_days))
    return due


@dataclass(frozen=True, slots=True)
class RefreshReport:
    written: int = 0
    batches: int = 0
    more_remaining: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def conversation_summaries_refresh(*, now: datetime | None = None) -> RefreshReport:
    """Summarise what went idle or closed since the last run, INSIGHTS_BATCH_SIZE at a time,
    at most INSIGHTS_MAX_BATCHES per run (a backlog drains over the following runs)."""
    now = now or timezone.now()
    written = batches = 0
    for _ in range(settings.INSIGHTS_MAX_BATCHES):
        ids = list(
            summaries_due(now=now, lookback_days=settings.INSIGHTS_LOOKBACK_DAYS)
            .order_by("last_message_at")
            .values_list("pk", flat=True)[: settings.INSIGHTS_BATCH_SIZE]
        )
        if not ids:
            return RefreshReport(written=written, batches=batches)
        written += conversation_summaries_write(conversation_ids=ids, now=now)
        batches += 1
    return RefreshReport(
        written=written,
        batches=batches,
        more_remaining=summaries_due(
            now=now, lookback_days=settings.INSIGHTS_LOOKBACK_DAYS
        ).exists(),
    )
