"""The summary writer: one row per conversation once it is closed or idle, from its messages,
the ledger, the handoff timeline, feedback and knowledge gaps; idempotent."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from chatbot.insights import tasks
from chatbot.insights.models import ConversationSummary
from chatbot.insights.summary import conversation_summaries_refresh, summaries_due
from chatbot.knowledge.models import KnowledgeGap
from conversations.models import Conversation, Feedback, Message
from conversations.services import (
    conversation_close,
    conversation_handoff_request,
    conversation_take_over,
    feedback_record,
    staff_message_send,
)
from tests.factories import ConversationFactory, StaffFactory

from .conversations import age, exchange, idle

pytestmark = pytest.mark.django_db
Outcome = ConversationSummary.Outcome


def summary_of(conversation) -> ConversationSummary:
    return ConversationSummary.objects.get(conversation=conversation)


def test_an_idle_conversation_answered_by_the_bot_is_resolved(widget_key):
    conversation = ConversationFactory(widget_key=widget_key)
    exchange(conversation, latency_ms=800, cost="0.001")
    exchange(conversation, latency_ms=1200, cost="0.002")
    idle(conversation)

    report = conversation_summaries_refresh()

    assert report.written == 1
    row = summary_of(conversation)
    assert row.outcome == Outcome.RESOLVED_BY_BOT
    assert (row.customer_messages, row.bot_replies, row.failed_replies) == (2, 2, 0)
    assert row.reply_latencies_ms == [800, 1200]
    assert row.cost == Decimal("0.003")
    assert row.widget_key == widget_key
    assert row.day == timezone.localtime(conversation.created_at).date()
    assert (row.started_at, row.ended_at) == (conversation.created_at, conversation.last_message_at)
    assert not row.handed_off and row.pickup_seconds is None and row.csat_satisfied is None


def test_refresh_twice_writes_the_same_row_once():
    conversation = ConversationFactory()
    exchange(conversation, cost="0.004")
    idle(conversation)
    conversation_summaries_refresh()
    first = summary_of(conversation)

    again = conversation_summaries_refresh()
    tasks.conversation_summary_write(str(conversation.pk))  # the close hook's task, run again

    assert again.written == 0  # nothing was due
    assert ConversationSummary.objects.count() == 1
    row = summary_of(conversation)
    assert (row.pk, row.outcome, row.cost, row.reply_latencies_ms) == (
        first.pk,
        first.outcome,
        first.cost,
        first.reply_latencies_ms,
    )


def test_an_active_conversation_waits_until_idle_or_closed(django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    exchange(conversation)
    age(conversation, started_ago=timedelta(minutes=20), last_message_ago=timedelta(minutes=5))

    assert conversation_summaries_refresh().written == 0
    assert not ConversationSummary.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation=conversation)  # the hook writes it at once

    row = summary_of(conversation)
    assert row.source_status == Conversation.Status.CLOSED
    assert row.outcome == Outcome.RESOLVED_BY_BOT
    closed_at = conversation.events.get(kind="closed").created_at
    assert row.ended_at == closed_at


@pytest.mark.parametrize(
    ("last_reply", "expected"),
    [
        ({"status": "failed", "model": "gpt-test"}, Outcome.ABANDONED),
        ({"status": "completed", "model": ""}, Outcome.ABANDONED),  # a refusal
        ({"status": "pending", "model": ""}, Outcome.ABANDONED),
        ({"status": "completed", "model": "gpt-test"}, Outcome.RESOLVED_BY_BOT),
    ],
)
def test_outcome_follows_the_answer_to_the_last_question(last_reply, expected):
    conversation = ConversationFactory()
    exchange(conversation)
    exchange(conversation, **last_reply)
    idle(conversation)
    conversation_summaries_refresh()
    assert summary_of(conversation).outcome == expected


def test_a_conversation_without_a_question_is_abandoned():
    conversation = idle(ConversationFactory())
    conversation_summaries_refresh()
    row = summary_of(conversation)
    assert (row.outcome, row.customer_messages, row.reply_latencies_ms) == (
        Outcome.ABANDONED,
        0,
        [],
    )


def test_handoff_pickup_staff_reply_and_csat(django_capture_on_commit_callbacks):
    agent = StaffFactory()
    conversation = ConversationFactory()
    exchange(conversation, latency_ms=500, cost="0.01")
    _question, reply = exchange(conversation, latency_ms=700, cost="0.02")
    feedback_record(conversation=conversation, kind="helpfulness", vote="down", message=reply)
    conversation_handoff_request(conversation=conversation, reason="asked_for_person")
    # The customer waited 90 s before the agent took it.
    Conversation.objects.filter(pk=conversation.pk).update(
        handoff_requested_at=timezone.now() - timedelta(seconds=90)
    )
    conversation.refresh_from_db()
    conversation_take_over(conversation=conversation, agent=agent)
    staff_message_send(conversation=conversation, author=agent, content="I can help.")

    with django_capture_on_commit_callbacks(execute=True):
        conversation_close(conversation=conversation, actor=agent)
    row = summary_of(conversation)
    assert (row.outcome, row.handed_off, row.pickup_seconds) == (Outcome.HANDED_OFF, True, 90.0)
    assert (row.staff_messages, row.bot_replies, row.cost) == (1, 2, Decimal("0.03"))
    assert (row.helpful_votes, row.unhelpful_votes, row.csat_satisfied) == (0, 1, None)

    with django_capture_on_commit_callbacks(execute=True):
        feedback_record(conversation=conversation, kind="csat", vote="up")  # the hook again
    assert summary_of(conversation).csat_satisfied is True
    assert ConversationSummary.objects.count() == 1


def test_a_rating_after_the_row_was_written_makes_it_due(settings):
    settings.CONVERSATION_CLOSED_HOOKS = []  # as if the hook's task had been lost
    conversation = ConversationFactory()
    exchange(conversation)
    conversation_close(conversation=conversation)
    conversation_summaries_refresh()
    assert summary_of(conversation).csat_satisfied is None

    feedback_record(conversation=conversation, kind="csat", vote="down")
    Feedback.objects.filter(conversation=conversation).update(
        updated_at=timezone.now() + timedelta(seconds=1)
    )
    assert list(summaries_due(now=timezone.now()).values_list("pk", flat=True)) == [conversation.pk]
    conversation_summaries_refresh()
    assert summary_of(conversation).csat_satisfied is False


def test_a_conversation_that_moved_on_is_summarised_again():
    conversation = ConversationFactory()
    exchange(conversation, latency_ms=100)
    idle(conversation, hours=3)
    conversation_summaries_refresh()
    assert summary_of(conversation).bot_replies == 1

    exchange(conversation, latency_ms=200)  # the customer came back an hour later
    idle(conversation, hours=2)
    assert conversation_summaries_refresh().written == 1
    row = summary_of(conversation)
    assert (row.bot_replies, row.reply_latencies_ms) == (2, [100, 200])


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (KnowledgeGap.Reason.UNSUPPORTED, Outcome.ABANDONED),  # the answer cited nothing given
        (KnowledgeGap.Reason.NO_MATCH, Outcome.RESOLVED_BY_BOT),  # answered all the same
    ],
)
def test_knowledge_gaps_on_the_last_question(widget_key, reason, expected):
    conversation = ConversationFactory(widget_key=widget_key)
    exchange(conversation)
    question, _reply = exchange(conversation)
    KnowledgeGap.objects.create(
        normalized_text="where is the moon",
        question="Where is the moon?",
        reason=reason,
        last_message=question,
    )
    idle(conversation)
    conversation_summaries_refresh()
    row = summary_of(conversation)
    assert (row.outcome, row.dont_know_replies) == (expected, 1)


def test_the_refresh_looks_back_only_so_far(settings):
    conversation = ConversationFactory()
    exchange(conversation)
    idle(conversation, hours=24 * (settings.INSIGHTS_LOOKBACK_DAYS + 1))
    assert conversation_summaries_refresh().written == 0  # the backfill command's job


def test_the_refresh_is_bounded_per_run(settings):
    settings.INSIGHTS_BATCH_SIZE, settings.INSIGHTS_MAX_BATCHES = 2, 2
    for _ in range(5):
        idle(ConversationFactory())
    first = conversation_summaries_refresh()
    assert (first.written, first.batches, first.more_remaining) == (4, 2, True)
    assert conversation_summaries_refresh().written == 1


def test_rows_outlive_their_conversation():
    conversation = idle(ConversationFactory())
    conversation_summaries_refresh()
    conversation.delete()
    row = ConversationSummary.objects.get()
    assert row.conversation_id is None and row.outcome == Outcome.ABANDONED


def test_beat_runs_the_refresh_task():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-conversation-summaries"]
    assert entry["task"] == tasks.conversation_summaries_refresh.name
    idle(ConversationFactory())
    result = tasks.conversation_summaries_refresh.apply().get()
    assert result == {"written": 1, "batches": 1, "more_remaining": False}


def test_merged_replies_are_not_answers():
    conversation = ConversationFactory()
    first, first_reply = exchange(conversation, latency_ms=0)
    _second, second_reply = exchange(conversation, latency_ms=900)
    Message.objects.filter(pk=first_reply.pk).update(merged_into=second_reply, content="")
    idle(conversation)
    conversation_summaries_refresh()
    row = summary_of(conversation)
    assert (row.bot_replies, row.reply_latencies_ms) == (1, [900])
    assert first.pk  # the merged question still counts as the customer's
    assert row.customer_messages == 2
