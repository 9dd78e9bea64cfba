"""The handoff transitions: each writes its state, one timeline event and live events after
commit; illegal moves raise clear errors and change nothing."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from accounts.models import AgentProfile
from chatbot.platform.event_bus import get_event_bus
from chatbot.platform.live_events import INBOX_STREAM
from conversations import services
from conversations.errors import (
    ConversationClosed,
    FeedbackInvalid,
    HandoffError,
    HandoffUnavailable,
    NotStaff,
)
from conversations.models import Conversation, ConversationEvent, Feedback, Message
from conversations.selectors import message_list
from conversations.serializers import MessageSerializer
from tests.factories import ConversationFactory, MessageFactory, StaffFactory, UserFactory

Handling = Conversation.Handling
Kind = ConversationEvent.Kind

pytestmark = pytest.mark.django_db


def bus_events(conversation_id) -> list[tuple[str, dict]]:
    """Everything published on a stream so far (the real bus, Redis)."""
    events = asyncio.run(get_event_bus().read(str(conversation_id), "0", 10))
    return [(e.event, e.data) for e in events]


@pytest.fixture
def conversation():
    return ConversationFactory()


@pytest.fixture
def agent():
    return StaffFactory(first_name="Alex")


def kinds(conversation) -> list[str]:
    return list(conversation.events.order_by("id").values_list("kind", flat=True))


def test_request_moves_bot_to_waiting_and_tells_the_customer(
    conversation, django_capture_on_commit_callbacks, settings
):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # the countdown task must not run inline
    settings.HANDOFF_PICKUP_TIMEOUT_SECONDS = 3600
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = services.conversation_handoff_request(
            conversation=conversation, reason="customer_request", source="widget"
        )
    assert result.changed and result.handling == Handling.WAITING
    conversation.refresh_from_db()
    assert conversation.handling == Handling.WAITING
    assert conversation.handoff_requested_at is not None
    event = conversation.events.get()
    assert (event.kind, event.reason, event.detail["source"]) == (
        Kind.HANDOFF_REQUESTED,
        "customer_request",
        "widget",
    )
    assert bus_events(conversation.pk) == []  # nothing before commit
    assert len(callbacks) == 1


def test_request_publishes_after_commit(conversation, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_handoff_request(conversation=conversation, reason="asked")
    events = bus_events(conversation.pk)
    assert events[0] == ("handoff", {"state": "waiting", "reason": "asked"})


def test_request_twice_is_a_no_op(conversation):
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    again = services.conversation_handoff_request(conversation=conversation, reason="asked")
    assert not again.changed and again.handling == Handling.WAITING
    assert kinds(conversation) == [Kind.HANDOFF_REQUESTED]


def test_request_on_a_closed_conversation_is_refused(conversation):
    services.conversation_close(conversation=conversation)
    with pytest.raises(ConversationClosed):
        services.conversation_handoff_request(conversation=conversation, reason="asked")


def test_request_unknown_source_is_refused(conversation):
    with pytest.raises(Exception, match="Unknown handoff source"):
        services.conversation_handoff_request(conversation=conversation, reason="x", source="??")
    assert kinds(conversation) == []


def test_request_when_handoff_is_disabled(conversation, settings):
    settings.HANDOFF_ENABLED = False
    with pytest.raises(HandoffUnavailable):
        services.conversation_handoff_request(conversation=conversation, reason="asked")


def test_outside_business_hours_goes_straight_to_followup(
    conversation, settings, django_capture_on_commit_callbacks
):
    # A window that is never now: one minute on a day that is not today.
    today = datetime.now(UTC).weekday()
    other = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[(today + 3) % 7]
    settings.HANDOFF_BUSINESS_HOURS = f"{other} 09:00-09:01"
    settings.HANDOFF_TIME_ZONE = "UTC"
    with django_capture_on_commit_callbacks(execute=True):
        result = services.conversation_handoff_request(conversation=conversation, reason="asked")
    assert result.handling == Handling.FOLLOWUP
    assert kinds(conversation) == [Kind.HANDOFF_REQUESTED, Kind.PICKUP_TIMEOUT]
    assert (
        "handoff",
        {"state": "followup", "reason": "outside_hours", "email_requested": True},
    ) in (bus_events(conversation.pk))


def test_take_over_from_waiting_records_pickup_and_joins(
    conversation, agent, django_capture_on_commit_callbacks
):
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_take_over(conversation=conversation, agent=agent)
    conversation.refresh_from_db()
    assert (conversation.handling, conversation.assignee) == (Handling.HUMAN, agent)
    event = conversation.events.get(kind=Kind.TAKEN_OVER)
    assert event.actor == agent and event.detail["pickup_seconds"] >= 0
    assert ("agent_joined", {"agent_name": "Alex"}) in bus_events(conversation.pk)


def test_take_over_from_the_bot(conversation, agent):
    services.conversation_take_over(conversation=conversation, agent=agent)
    conversation.refresh_from_db()
    assert conversation.handling == Handling.HUMAN
    assert "pickup_seconds" not in conversation.events.get().detail


def test_take_over_of_another_agents_conversation_is_refused(conversation, agent):
    services.conversation_take_over(conversation=conversation, agent=agent)
    other = StaffFactory()
    with pytest.raises(HandoffError) as error:
        services.conversation_take_over(conversation=conversation, agent=other)
    assert error.value.code == "handoff_already_assigned"
    conversation.refresh_from_db()
    assert conversation.assignee == agent


def test_assign_reassigns(conversation, agent):
    services.conversation_take_over(conversation=conversation, agent=agent)
    other = StaffFactory()
    services.conversation_assign(conversation=conversation, assignee=other, actor=agent)
    conversation.refresh_from_db()
    assert conversation.assignee == other
    assert kinds(conversation) == [Kind.TAKEN_OVER, Kind.ASSIGNED]


def test_only_staff_take_over(conversation):
    with pytest.raises(NotStaff):
        services.conversation_take_over(conversation=conversation, agent=UserFactory())
    with pytest.raises(NotStaff):
        services.conversation_assign(conversation=conversation, assignee=UserFactory())


def test_release_hands_back_to_the_bot(conversation, agent, django_capture_on_commit_callbacks):
    services.conversation_take_over(conversation=conversation, agent=agent)
    with django_capture_on_commit_callbacks(execute=True):
        services.conversation_release(conversation=conversation, actor=agent)
    conversation.refresh_from_db()
    assert (conversation.handling, conversation.assignee) == (Handling.BOT, None)
    events = bus_events(conversation.pk)
    assert ("agent_left", {"agent_name": "Alex"}) in events
    assert ("handoff", {"state": "bot", "reason": "released"}) in events


def test_release_of_a_bot_conversation_is_refused(conversation, agent):
    with pytest.raises(HandoffError) as error:
        services.conversation_release(conversation=conversation, actor=agent)
    assert error.value.code == "handoff_invalid_transition"
    assert error.value.status_code == 409


def test_customer_cannot_close_while_a_person_handles_it(conversation, agent):
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    with pytest.raises(HandoffError) as error:
        services.conversation_close(conversation=conversation, actor=conversation.customer)
    assert error.value.code == "handoff_in_progress"
    services.conversation_close(conversation=conversation, actor=agent, reason="resolved")
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.CLOSED
    assert conversation.events.get(kind=Kind.CLOSED).detail == {"handling": "waiting"}


def test_staff_message_takes_over_and_reaches_the_customer(
    conversation, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        message = services.staff_message_send(
            conversation=conversation, author=agent, content=" Hello, I'm Alex. "
        )
    assert (message.role, message.author, message.content) == ("staff", agent, "Hello, I'm Alex.")
    conversation.refresh_from_db()
    assert conversation.handling == Handling.HUMAN and conversation.assignee == agent
    payloads = [data for name, data in bus_events(conversation.pk) if name == "message"]
    assert payloads[-1]["role"] == "staff" and payloads[-1]["author_name"] == "Alex"


def test_customers_see_the_agent_profiles_public_name(
    conversation, agent, django_capture_on_commit_callbacks
):
    AgentProfile.objects.create(user=agent, public_name="Alex from Support")
    with django_capture_on_commit_callbacks(execute=True):
        message = services.staff_message_send(conversation=conversation, author=agent, content="Hi")
        services.conversation_release(conversation=conversation, actor=agent)
    payloads = [data for name, data in bus_events(conversation.pk) if name == "message"]
    assert payloads[-1]["author_name"] == "Alex from Support"
    listed = message_list(conversation=conversation)  # the API's and the widget's history
    assert MessageSerializer(listed[-1]).data["author_name"] == "Alex from Support"
    assert listed[-1].pk == message.pk
    joined_left = [data for name, data in bus_events(conversation.pk) if name.startswith("agent_")]
    assert [data["agent_name"] for data in joined_left] == ["Alex from Support"] * 2


def test_staff_message_refusals(conversation, agent):
    with pytest.raises(NotStaff):
        services.staff_message_send(conversation=conversation, author=UserFactory(), content="x")
    with pytest.raises(Exception, match="Write a message"):
        services.staff_message_send(conversation=conversation, author=agent, content="  ")
    services.conversation_close(conversation=conversation)
    with pytest.raises(ConversationClosed):
        services.staff_message_send(conversation=conversation, author=agent, content="late")
    assert not Message.objects.filter(role="staff").exists()


def test_notes_stay_off_the_customers_stream(
    conversation, agent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        note = services.conversation_note_add(
            conversation=conversation, author=agent, text="VIP, be nice"
        )
    assert note.kind == Kind.NOTE and note.detail == {"text": "VIP, be nice"}
    assert bus_events(conversation.pk) == []
    inbox = [data for name, data in bus_events(INBOX_STREAM) if name == "inbox"]
    assert {"conversation_id": str(conversation.pk), "change": "note", "handling": "bot"} in inbox
    with pytest.raises(NotStaff):
        services.conversation_note_add(conversation=conversation, author=UserFactory(), text="x")


def test_pickup_timeout_moves_waiting_to_followup(conversation, settings):
    settings.HANDOFF_PICKUP_TIMEOUT_SECONDS = 60
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    conversation.refresh_from_db()
    requested = conversation.handoff_requested_at
    assert not services.conversation_pickup_timeout(
        conversation_id=conversation.pk, requested_at=requested
    )  # not yet due
    Conversation.objects.filter(pk=conversation.pk).update(
        handoff_requested_at=requested - timedelta(seconds=61)
    )
    # A stale task (an earlier request's timestamp) does nothing.
    assert not services.conversation_pickup_timeout(
        conversation_id=conversation.pk, requested_at=requested
    )
    assert services.handoff_timeouts_sweep() == 1
    conversation.refresh_from_db()
    assert conversation.handling == Handling.FOLLOWUP
    assert kinds(conversation)[-1] == Kind.PICKUP_TIMEOUT
    assert services.handoff_timeouts_sweep() == 0


def test_followup_email_and_staff_answer_by_email(
    conversation, agent, settings, django_capture_on_commit_callbacks
):
    with pytest.raises(HandoffError):  # only asked for while waiting or in follow-up
        services.conversation_followup_email_set(conversation=conversation, email="a@b.example")
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    Conversation.objects.filter(pk=conversation.pk).update(handling=Handling.FOLLOWUP)
    with pytest.raises(Exception, match="valid email"):
        services.conversation_followup_email_set(conversation=conversation, email="nope")
    services.conversation_followup_email_set(conversation=conversation, email="me@shop.example")
    with django_capture_on_commit_callbacks(execute=True):
        services.staff_message_send(conversation=conversation, author=agent, content="Sorted!")
    conversation.refresh_from_db()
    assert conversation.handling == Handling.FOLLOWUP
    assert [m.to for m in mail.outbox] == [["me@shop.example"]]
    assert "Sorted!" in mail.outbox[0].body and "Alex" in mail.outbox[0].body


def test_handoff_offer_marks_the_reply(conversation):
    reply = MessageFactory(conversation=conversation, role="assistant", status="failed")
    assert services.conversation_handoff_offer(
        conversation=conversation, reply=reply, reason="failures"
    )
    reply.refresh_from_db()
    assert reply.handoff_offered
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    assert not services.conversation_handoff_offer(
        conversation=conversation, reply=reply, reason="failures"
    )


def test_feedback_rules(conversation):
    answer = MessageFactory(conversation=conversation, role="assistant", content="Hi")
    question = MessageFactory(conversation=conversation, role="user")
    first = services.feedback_record(
        conversation=conversation, kind="helpfulness", vote="down", message=answer
    )
    again = services.feedback_record(
        conversation=conversation, kind="helpfulness", vote="up", message=answer, comment=" ok "
    )
    assert first.pk == again.pk and (again.vote, again.comment) == ("up", "ok")
    with pytest.raises(FeedbackInvalid):
        services.feedback_record(
            conversation=conversation, kind="helpfulness", vote="up", message=question
        )
    with pytest.raises(FeedbackInvalid):
        services.feedback_record(conversation=conversation, kind="csat", vote="up")  # open
    with pytest.raises(FeedbackInvalid):
        services.feedback_record(conversation=conversation, kind="csat", vote="meh")
    services.conversation_close(conversation=conversation)
    services.feedback_record(conversation=conversation, kind="csat", vote="up")
    services.feedback_record(conversation=conversation, kind="csat", vote="down")
    assert Feedback.objects.get(kind="csat").vote == "down"
    other = MessageFactory(role="assistant", content="elsewhere")
    with pytest.raises(FeedbackInvalid):
        services.feedback_record(
            conversation=conversation, kind="helpfulness", vote="up", message=other
        )
