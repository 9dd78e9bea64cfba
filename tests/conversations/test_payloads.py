"""The hot path's message payload (no DRF) is the API's MessageSerializer shape, exactly."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from conversations.models import Message
from conversations.payloads import message_payload
from conversations.serializers import MessageSerializer
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def _as_api_json(data) -> dict:
    return json.loads(JSONRenderer().render(data))


@pytest.fixture
def messages():
    conversation = ConversationFactory()
    question = MessageFactory(conversation=conversation, content="Où est mon colis ?")
    later = MessageFactory(conversation=conversation, content="and now?", client_message_id="m2")
    done = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        reply_to=later,
        content="It ships today. 今日发货",
        model="gpt-test",
        prompt_tokens=12,
        completion_tokens=4,
        latency_ms=321,
        token_count=9,
        cached=True,
        route_reason="primary",
        completed_at=timezone.now() + timedelta(seconds=1),
    )
    merged = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        reply_to=question,
        content="",
        merged_into=done,
        completed_at=timezone.now(),
    )
    failed = MessageFactory(
        conversation=ConversationFactory(),
        role=Message.Role.ASSISTANT,
        status=Message.Status.FAILED,
        error_code="timeout",
        content="Sorry.",
    )
    pending = MessageFactory(
        conversation=ConversationFactory(),
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        content="",
    )
    staff = MessageFactory(
        conversation=conversation,
        role=Message.Role.STAFF,
        author=UserFactory(is_staff=True, first_name="Ana"),
        content="A person here.",
    )
    offered = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        reply_to=MessageFactory(conversation=conversation, content="a person please"),
        content="Shall I get a person?",
        handoff_offered=True,
    )
    return [question, later, done, merged, failed, pending, staff, offered]


def test_the_payload_is_the_serializers_output(messages):
    for message in messages:
        message.refresh_from_db()
        assert _as_api_json(message_payload(message)) == _as_api_json(
            MessageSerializer(message).data
        )
        assert list(message_payload(message)) == list(MessageSerializer(message).data)


def test_the_payload_follows_the_current_time_zone_like_drf(messages, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    message = messages[2]
    message.refresh_from_db()
    with timezone.override("Asia/Shanghai"):
        ours = _as_api_json(message_payload(message))
        theirs = _as_api_json(MessageSerializer(message).data)
    assert ours == theirs and ours["created_at"].endswith("+08:00")
