"""The reply lifecycle's guards: claims, leases, stale writers and the sweeper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chatbot.replies import lifecycle
from chatbot.replies.turn import turn_start
from conversations.models import Message
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def reply(django_capture_on_commit_callbacks):
    # Enqueueing is not under test here: keep the reply pending.
    with django_capture_on_commit_callbacks(execute=False):
        return turn_start(conversation=ConversationFactory(), content="hi").reply


def test_a_reply_is_claimed_once(reply):
    first = lifecycle.reply_claim(reply_id=reply.id)
    assert first is not None
    assert lifecycle.reply_claim(reply_id=reply.id) is None  # duplicate / redelivered task


def test_the_claim_tells_whether_a_later_message_may_supersede_the_reply(
    django_capture_on_commit_callbacks,
):
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=False):
        first = turn_start(conversation=conversation, content="one").reply
        second = turn_start(conversation=conversation, content="two").reply
    # Postgres: the claim's own statement answers (None elsewhere: the burst check asks).
    assert lifecycle.reply_claim(reply_id=first.id).later_question is True
    assert lifecycle.reply_claim(reply_id=second.id).later_question is False


def test_a_finished_reply_cannot_be_claimed(reply):
    claimed = lifecycle.reply_claim(reply_id=reply.id)
    lifecycle.reply_complete(
        claimed=claimed,
        content="done",
        model="m",
        prompt_tokens=1,
        completion_tokens=1,
        latency_ms=5,
    )
    assert lifecycle.reply_claim(reply_id=reply.id) is None
    assert lifecycle.reply_claim(reply_id=reply.id, now=timezone.now() + timedelta(days=1)) is None


def test_an_expired_lease_can_be_reclaimed_and_the_old_holder_cannot_write(reply):
    stale = lifecycle.reply_claim(reply_id=reply.id)
    later = timezone.now() + timedelta(hours=1)
    fresh = lifecycle.reply_claim(reply_id=reply.id, now=later)
    assert fresh is not None and fresh.claim_token != stale.claim_token
    assert (
        lifecycle.reply_complete(
            claimed=stale,
            content="zombie",
            model="m",
            prompt_tokens=1,
            completion_tokens=1,
            latency_ms=1,
        )
        is False
    )
    assert lifecycle.reply_heartbeat(claimed=stale) is False
    assert (
        lifecycle.reply_complete(
            claimed=fresh,
            content="real",
            model="m",
            prompt_tokens=1,
            completion_tokens=1,
            latency_ms=1,
        )
        is True
    )
    reply.refresh_from_db()
    assert reply.content == "real" and reply.status == Message.Status.COMPLETED
    assert reply.attempts == 2


def test_failing_stores_polite_text_and_code(reply, settings):
    claimed = lifecycle.reply_claim(reply_id=reply.id)
    lifecycle.reply_fail(claimed=claimed, error_code="timeout")
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and reply.error_code == "timeout"
    assert reply.content == settings.CHAT_FAILED_REPLY_TEXT
    assert reply.reply_to.content == "hi"  # the customer's message is untouched


def test_sweeper_redispatches_lost_pending_and_abandoned_replies(reply, monkeypatch):
    dispatched = []
    monkeypatch.setattr(lifecycle, "reply_enqueue", lambda reply_id: dispatched.append(reply_id))
    assert lifecycle.replies_sweep_stuck().redispatched == []  # too recent to be lost

    report = lifecycle.replies_sweep_stuck(now=timezone.now() + timedelta(minutes=5))
    assert report.redispatched == [reply.id] and dispatched == [reply.id]

    lifecycle.reply_claim(reply_id=reply.id)  # a worker takes it, then dies
    assert lifecycle.replies_sweep_stuck().redispatched == []  # lease still running
    report = lifecycle.replies_sweep_stuck(now=timezone.now() + timedelta(minutes=5))
    assert report.redispatched == [reply.id]


def test_sweeper_fails_a_reply_after_max_attempts(reply, settings, monkeypatch):
    monkeypatch.setattr(lifecycle, "reply_enqueue", lambda reply_id: None)
    settings.REPLY_MAX_ATTEMPTS = 2
    for hours in (1, 2):
        assert lifecycle.reply_claim(reply_id=reply.id, now=timezone.now() + timedelta(hours=hours))
    assert lifecycle.reply_claim(reply_id=reply.id, now=timezone.now() + timedelta(hours=3)) is None
    report = lifecycle.replies_sweep_stuck(now=timezone.now() + timedelta(hours=4))
    assert report.failed == [reply.id]
    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED and reply.error_code == "worker_lost"


def test_concurrent_duplicate_client_message_id_is_deduplicated(django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=False):
        first = turn_start(conversation=conversation, content="a", client_message_id="k")
        again = turn_start(conversation=conversation, content="a", client_message_id="k")
    assert first.created and not again.created and again.reply.id == first.reply.id
