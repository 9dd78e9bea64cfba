"""The handoff and feedback metric slots: filled by the services, with bounded labels."""

import pytest
from prometheus_client import REGISTRY

from chatbot.platform import metrics
from conversations import services
from tests.factories import ConversationFactory, MessageFactory, StaffFactory

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_handoffs_are_counted_by_who_asked_and_pickups_timed(django_capture_on_commit_callbacks):
    before = value("chatdesk_handoffs_total", reason="widget")
    pickups = value("chatdesk_handoff_pickup_seconds_count")
    conversation = ConversationFactory()
    services.conversation_handoff_request(conversation=conversation, reason="x", source="widget")
    with django_capture_on_commit_callbacks(execute=True):  # timed once the pickup committed
        services.conversation_take_over(conversation=conversation, agent=StaffFactory())
    assert value("chatdesk_handoffs_total", reason="widget") == before + 1
    assert value("chatdesk_handoff_pickup_seconds_count") == pickups + 1


def test_votes_are_counted_up_or_down():
    conversation = ConversationFactory()
    answer = MessageFactory(conversation=conversation, role="assistant", content="Hi")
    up = value("chatdesk_helpfulness_votes_total", vote="up")
    services.feedback_record(
        conversation=conversation, kind="helpfulness", vote="up", message=answer
    )
    assert value("chatdesk_helpfulness_votes_total", vote="up") == up + 1
    services.conversation_close(conversation=conversation)
    down = value("chatdesk_csat_ratings_total", score="down")
    services.feedback_record(conversation=conversation, kind="csat", vote="down")
    assert value("chatdesk_csat_ratings_total", score="down") == down + 1


def test_labels_stay_bounded():
    metrics.record_handoff(source="something a tool made up")
    metrics.record_feedback(kind="csat", vote="meh")
    assert value("chatdesk_handoffs_total", reason="other") >= 1
    assert value("chatdesk_handoffs_total", reason="something a tool made up") == 0
    assert value("chatdesk_csat_ratings_total", score="other") >= 1
