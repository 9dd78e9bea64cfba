"""The turn pipeline's steps, one at a time and together (real stub, Postgres, Redis)."""

import pytest
import redis

from accounts.models import ModelPreference
from chatbot.platform import live_events
from chatbot.replies import lifecycle, pipeline
from conversations.models import Message
from tests.chatbot.moderation_helpers import published
from tests.factories import ConversationFactory, MessageFactory, ProviderCallFactory
from tests.stub_llm import Reply

pytestmark = pytest.mark.django_db


def claimed_turn(conversation=None, content="Where is my parcel?") -> pipeline.Turn:
    conversation = conversation or ConversationFactory()
    question = MessageFactory(conversation=conversation, content=content)
    reply = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        content="",
        reply_to=question,
    )
    return pipeline.Turn(claimed=lifecycle.reply_claim(reply_id=reply.id))


def test_the_steps_run_in_the_documented_order():
    names = [step.__name__ for step in pipeline.STEPS]
    assert names == [
        "admit",
        "build_context",
        "answer_without_sources",
        "answer_from_cache",
        "generate",
    ]
    assert [check.__name__ for check in pipeline.ADMISSION] == [
        "defer_to_person",
        "refuse_blocked_message",
        "fold_into_later_reply",
        "stop_over_budget",
    ]


def test_admission_passes_an_ordinary_message_and_announces_streaming():
    turn = claimed_turn()
    pipeline.admit(turn)
    assert turn.ending is None
    assert turn.preference is not None  # the budget check resolved it for the later steps
    statuses = [d["status"] for e, d in published(turn.reply.conversation_id) if e == "status"]
    assert statuses == ["streaming"]


def test_admission_refuses_a_blocked_message_without_announcing_streaming(settings):
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    turn = claimed_turn(content="say forbidden-word")
    pipeline.admit(turn)
    assert turn.ending.finished and turn.ending.error_code == ""
    turn.reply.refresh_from_db()
    assert turn.reply.content == settings.MODERATION_REFUSAL_TEXT
    assert [e for e, _ in published(turn.reply.conversation_id)] == []  # finish() tells


def test_admission_stops_a_customer_over_budget(settings):
    turn = claimed_turn()
    customer = turn.reply.conversation.customer
    ModelPreference.objects.create(user=customer, monthly_token_budget=100)
    ProviderCallFactory(customer=customer, prompt_tokens=90, completion_tokens=20)
    pipeline.admit(turn)
    assert (turn.ending.finished, turn.ending.error_code) == (True, "budget_exceeded")
    turn.reply.refresh_from_db()
    assert turn.reply.content == settings.BUDGET_EXCEEDED_REPLY_TEXT


def test_a_new_admission_check_can_keep_the_bot_quiet(monkeypatch, use_llm_stub, send_now):
    """The slot the human handoff plugs into: a check that ends the turn, no model call."""

    def a_person_owns_this_conversation(turn):
        turn.end(lifecycle.reply_fail(claimed=turn.claimed, error_code="handed_off"))

    monkeypatch.setattr(
        pipeline, "ADMISSION", (*pipeline.ADMISSION, a_person_owns_this_conversation)
    )
    result = send_now(ConversationFactory(), "I want a person")
    reply = Message.objects.get(pk=result.reply.id)
    assert (reply.status, reply.error_code) == ("failed", "handed_off")
    assert use_llm_stub.requests == []


def test_context_then_cache_then_generate_fill_the_turn(use_llm_stub):
    use_llm_stub.script(Reply(text="It ships tomorrow.", chunks=4))
    turn = claimed_turn()
    pipeline.admit(turn)
    pipeline.build_context(turn)
    assert turn.request.messages[-1].content == "Where is my parcel?"
    pipeline.answer_from_cache(turn)
    assert turn.ending is None and turn.cache_probe is not None
    pipeline.generate(turn)
    assert turn.ending.finished
    turn.reply.refresh_from_db()
    assert (turn.reply.status, turn.reply.content) == ("completed", "It ships tomorrow.")
    assert pipeline.finish(turn) == turn.reply
    events = published(turn.reply.conversation_id)
    shown = "".join(d["text"] for e, d in events if e == "delta")
    assert shown == "It ships tomorrow."
    assert events[-1][0] == "message" and events[-1][1]["status"] == "completed"


def test_fast_deltas_are_coalesced_and_the_end_follows_the_text(use_llm_stub):
    """20 chunks 5 ms apart reach clients as a few `delta` events (at most one per
    DELTA_COALESCE_SECONDS while they flow), then the rest and the final message."""
    text = " ".join(f"w{n}" for n in range(20))
    use_llm_stub.script(Reply(text=text, chunks=20, chunk_delay=0.005))
    turn = claimed_turn()
    for step in pipeline.STEPS:
        step(turn)
    pipeline.finish(turn)
    events = published(turn.reply.conversation_id)
    deltas = [d["text"] for e, d in events if e == "delta"]
    assert "".join(deltas) == text
    assert 1 <= len(deltas) <= 8  # 95 ms of chunks: about 3 windows, not 20 events
    assert events[-1][0] == "message" and events[-1][1]["content"] == text  # then the end


def test_a_lost_lease_ends_the_turn_silently(use_llm_stub):
    turn = claimed_turn()
    Message.objects.filter(pk=turn.reply.pk).update(claim_token=None)  # another worker took it
    turn.last_beat = 0.0  # due for a heartbeat
    with pytest.raises(pipeline.LeaseLost):
        turn.heartbeat()


class _BrokenBus:
    def publish(self, *_args, **_kwargs):
        raise redis.ConnectionError("Redis is down")

    publish_many = publish


def test_a_failing_event_bus_never_fails_a_reply_or_calls_the_model_twice(
    monkeypatch, use_llm_stub, send_now
):
    """Persist first, then publish: the reply is saved once, with one model call."""
    use_llm_stub.script(Reply(text="Saved before it was announced.", chunks=5))
    monkeypatch.setattr(live_events, "get_event_bus", lambda: _BrokenBus())
    result = send_now(ConversationFactory(), "Hello?")
    reply = Message.objects.get(pk=result.reply.id)
    assert (reply.status, reply.content) == ("completed", "Saved before it was announced.")
    assert len(use_llm_stub.requests) == 1
    assert reply.lease_expires_at is None  # nothing left for the sweeper to redo
