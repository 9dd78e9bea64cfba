"""GDPR and the handoff: the customer's feedback and timeline are in the export (internal
notes and staff ids are not), and erasure or anonymisation removes them."""

import json

import pytest

from chatbot.privacy.retention import _anonymise_batch
from conversations import services
from conversations.models import Conversation, ConversationEvent, Feedback
from tests.conftest import client_for
from tests.factories import ConversationFactory, MessageFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def handed_over():
    conversation = ConversationFactory()
    agent = StaffFactory(first_name="Alex")
    answer = MessageFactory(conversation=conversation, role="assistant", content="Try restarting")
    services.feedback_record(
        conversation=conversation,
        kind="helpfulness",
        vote="down",
        message=answer,
        comment="Did not help at all",
    )
    services.conversation_handoff_request(
        conversation=conversation, reason="asked", requested_by=conversation.customer
    )
    Conversation.objects.filter(pk=conversation.pk).update(handling="followup")
    services.conversation_followup_email_set(conversation=conversation, email="me@shop.example")
    services.conversation_take_over(conversation=conversation, agent=agent)
    services.conversation_note_add(
        conversation=conversation, author=agent, text="Customer sounds angry, secret note"
    )
    services.conversation_close(conversation=conversation, actor=agent, reason="resolved")
    services.feedback_record(
        conversation=conversation, kind="csat", vote="up", comment="Alex rocks"
    )
    return conversation, agent


def test_export_has_feedback_and_timeline_but_no_notes(handed_over):
    conversation, agent = handed_over
    doc = client_for(conversation.customer).get("/api/v1/me/export/").json()
    [conv] = doc["conversations"]
    assert {(f["kind"], f["vote"], f["comment"]) for f in conv["feedback"]} == {
        ("helpfulness", "down", "Did not help at all"),
        ("csat", "up", "Alex rocks"),
    }
    assert [e["kind"] for e in conv["timeline"]] == [
        "handoff_requested",
        "followup_requested",
        "taken_over",
        "closed",
    ]
    assert conv["followup_email"] == "me@shop.example"
    text = json.dumps(doc)
    assert "secret note" not in text  # internal notes never reach the customer
    assert str(agent.pk) not in text  # nor staff ids
    assert "conversations.feedback" not in doc["related"]
    assert "conversations.conversationevent" not in doc["related"]


def test_erasure_removes_feedback_and_timeline(handed_over, django_capture_on_commit_callbacks):
    conversation, agent = handed_over
    client = client_for(conversation.customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/me/erase/", {"confirm": "erase"}, format="json")
    assert response.status_code == 200, response.content
    assert not Feedback.objects.exists()
    assert not ConversationEvent.objects.exists()
    assert agent.__class__.objects.filter(pk=agent.pk).exists()  # staff stay


def test_anonymisation_clears_free_text_about_the_person(handed_over):
    conversation, _agent = handed_over
    _anonymise_batch([conversation.pk])
    conversation.refresh_from_db()
    assert conversation.followup_email == "" and conversation.customer is None
    assert set(Feedback.objects.values_list("comment", flat=True)) == {""}
    note = ConversationEvent.objects.get(kind="note")
    assert note.detail == {}
