"""`manage.py insights_backfill`: history older than the refresh's window, in batches, with
a progress bar; an interrupted run resumes without redoing what it wrote."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from chatbot.insights.models import ConversationSummary
from tests.factories import ConversationFactory

from .conversations import age, exchange

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    """Five conversations from 30 to 26 days ago (oldest first), and one still active."""
    old = []
    for days in range(30, 25, -1):
        conversation = ConversationFactory()
        exchange(conversation, latency_ms=100 * days)
        old.append(
            age(
                conversation,
                started_ago=timedelta(days=days),
                last_message_ago=timedelta(days=days),
            )
        )
    active = ConversationFactory()
    exchange(active)
    return old, active


def backfill(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("insights_backfill", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_backfill_writes_every_ended_conversation_in_batches(history):
    old, _active = history
    out, err = backfill("--batch-size", "2")
    assert "5 conversation summaries written." in out
    assert "Summarising" in err and "5/5" in err  # the progress bar
    summarised = set(ConversationSummary.objects.values_list("conversation_id", flat=True))
    assert summarised == {c.pk for c in old}  # not the active one
    assert ConversationSummary.objects.get(conversation=old[0]).reply_latencies_ms == [3000]


def test_a_second_run_resumes_and_rewrites_nothing(history):
    old, _active = history
    # As if a run had stopped after two batches of one: two rows written, three missing.
    call_command(
        "insights_backfill", "--batch-size", "1", stdout=io.StringIO(), stderr=io.StringIO()
    )
    ConversationSummary.objects.filter(conversation__in=old[2:]).delete()
    out, _ = backfill("--no-progress")
    assert "3 conversation summaries written." in out
    assert "3/3 written" in out
    out, _ = backfill()
    assert "0 conversation summaries written." in out
    assert ConversationSummary.objects.count() == 5


def test_recompute_rewrites_every_row_and_resumes_after_an_id(history):
    old, _active = history
    backfill()
    ConversationSummary.objects.update(cost=99)  # e.g. the definitions changed
    out, _ = backfill("--recompute", "--after", str(old[2].pk))
    assert "2 conversation summaries written." in out
    assert list(
        ConversationSummary.objects.order_by("started_at").values_list("cost", flat=True)
    ) == [99, 99, 99, 0, 0]
    out, _ = backfill("--recompute")
    assert "5 conversation summaries written." in out
    assert not ConversationSummary.objects.filter(cost=99).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--after", "00000000-0000-0000-0000-000000000000"], "--after only applies"),
        (
            ["--recompute", "--after", "00000000-0000-0000-0000-000000000000"],
            "No conversation",
        ),
    ],
)
def test_bad_arguments_are_refused(db, args, message):
    with pytest.raises(CommandError, match=message):
        backfill(*args)
