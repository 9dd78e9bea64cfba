"""The tool-call ledger under GDPR: exported with the person, erased with them,
anonymised by the retention policy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ErasureRecord
from chatbot.privacy.retention import conversations_retention_apply
from chatbot.privacy.selectors import user_data_export
from chatbot.privacy.services import user_erase
from chatbot.tools.models import ToolCall
from conversations.models import Conversation
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def tool_call(conversation) -> ToolCall:
    reply = MessageFactory(conversation=conversation, role="assistant")
    return ToolCall.objects.create(
        conversation=conversation,
        reply=reply,
        tool_name="cancel_order",
        call_id="call_1",
        arguments_masked={"order_number": "1234", "email": "[email]"},
        arguments_encrypted="gAAAA-secret",
        label="Cancel order 1234?",
        status=ToolCall.Status.AWAITING_CONFIRMATION,
        read_only=False,
    )


def test_the_export_lists_the_calls_without_their_secrets():
    conversation = ConversationFactory()
    row = tool_call(conversation)

    exported = user_data_export(user=conversation.customer)["related"]["tools.toolcall"]

    assert [r["id"] for r in exported] == [str(row.pk)]
    assert exported[0]["arguments_masked"] == {"order_number": "1234", "email": "[email]"}
    assert "arguments_encrypted" not in exported[0]


def test_erasure_removes_the_calls():
    conversation = ConversationFactory()
    tool_call(conversation)

    user_erase(user=conversation.customer, route=ErasureRecord.Route.SELF_SERVICE)

    assert ToolCall.objects.count() == 0


def test_retention_anonymises_the_calls_and_keeps_the_figures(settings):
    settings.RETENTION_DAYS, settings.RETENTION_MODE = 30, "anonymize"
    conversation = ConversationFactory()
    row = tool_call(conversation)
    ToolCall.objects.filter(pk=row.pk).update(latency_ms=40)
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=timezone.now() - timedelta(days=40)
    )

    conversations_retention_apply()

    row.refresh_from_db()
    assert (row.arguments_masked, row.arguments_encrypted, row.label) == ({}, "", "")
    assert (row.tool_name, row.status, row.latency_ms) == (
        "cancel_order",
        "awaiting_confirmation",
        40,
    )
