"""The reply lifecycle's guards: claims, leases, stale writers and the sweeper."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chatbot.replies import lifecycle
from chatbot.replies.turn import turn_start
from conversations.models import Conversation, Message
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


@pytest.fixture(params=["one statement", "orm"])
def finish_path(request, monkeypatch):
    """Postgres finishes in one statement; other databases (the demo's SQLite) through the
    ORM's two: both are held to the same behaviour."""
    if request.param == "orm":
        monkeypatch.setattr(lifecycle, "_finish_returning", lifecycle._finish_orm)
    return request.param


def _stamps(conversation_id):
    conversation = Conversation.objects.get(pk=conversation_id)
    return conversation.last_message_at, conversation.updated_at


def test_finishing_writes_the_reply_and_stamps_the_conversation(
    reply, finish_path, django_assert_max_num_queries
):
    claimed = lifecycle.reply_claim(reply_id=reply.id)
    statements = 1 if finish_path == "one statement" else 2
    with django_assert_max_num_queries(statements):
        assert lifecycle.reply_complete(
            claimed=claimed,
            content="Tomorrow.",
            model="m",
            prompt_tokens=12,
            completion_tokens=None,
            latency_ms=7,
            cached=True,
            route_reason="r" * 400,
        )
    stored = Message.objects.get(pk=reply.id)
    assert stored.status == Message.Status.COMPLETED and stored.content == "Tomorrow."
    assert (stored.prompt_tokens, stored.completion_tokens, stored.latency_ms) == (12, None, 7)
    assert stored.cached and stored.route_reason == "r" * 300 and stored.token_count > 0
    assert stored.lease_expires_at is None and stored.completed_at is not None
    assert stored.claim_token == claimed.claim_token  # kept: who wrote it
    assert _stamps(reply.conversation_id) == (stored.completed_at, stored.completed_at)
    # The claimed instance is the row as it now is.
    assert claimed.reply.completed_at == stored.completed_at
    assert claimed.reply.content == "Tomorrow." and claimed.reply.lease_expires_at is None


def test_a_lost_claim_finishes_nothing_and_stamps_nothing(reply, finish_path):
    stale = lifecycle.reply_claim(reply_id=reply.id)
    fresh = lifecycle.reply_claim(reply_id=reply.id, now=timezone.now() + timedelta(hours=1))
    before = _stamps(reply.conversation_id)
    assert lifecycle.reply_fail(claimed=stale, error_code="timeout") is False
    assert lifecycle.reply_defer(claimed=stale) is False
    stored = Message.objects.get(pk=reply.id)
    assert stored.status == Message.Status.STREAMING and stored.completed_at is None
    assert stored.lease_expires_at is not None
    assert _stamps(reply.conversation_id) == before
    assert stale.reply.completed_at is None  # the stale instance is left as it was

    # The holder's token, but the reply is no longer streaming (already finished).
    assert lifecycle.reply_fail(claimed=fresh, error_code="timeout", latency_ms=None) is True
    finished = _stamps(reply.conversation_id)
    assert lifecycle.reply_complete(
        claimed=fresh, content="again", model="m", prompt_tokens=1, completion_tokens=1,
        latency_ms=1,
    ) is False  # fmt: skip
    stored = Message.objects.get(pk=reply.id)
    assert stored.status == Message.Status.FAILED and stored.error_code == "timeout"
    assert stored.latency_ms is None
    assert _stamps(reply.conversation_id) == finished


def test_a_merged_reply_points_at_the_reply_that_answers_it(
    django_capture_on_commit_callbacks, finish_path
):
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=False):
        first = turn_start(conversation=conversation, content="one").reply
        second = turn_start(conversation=conversation, content="two").reply
    claimed = lifecycle.reply_claim(reply_id=first.id)
    assert lifecycle.reply_merge(claimed=claimed, into_id=second.id) is True
    stored = Message.objects.get(pk=first.id)
    assert stored.merged_into_id == second.id and stored.content == ""
    assert stored.status == Message.Status.COMPLETED and stored.latency_ms == 0
