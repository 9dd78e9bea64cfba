"""A question that led to a handoff becomes a knowledge gap (HANDOFF_REQUESTED_HOOKS): the
customer's latest message that is not itself the request for a person."""

import pytest

from chatbot.knowledge.models import KnowledgeGap
from chatbot.knowledge.services import article_save, knowledge_gap_from_handoff_record
from conversations.services import conversation_handoff_request
from tests.conftest import client_for
from tests.factories import ConversationFactory, MessageFactory, WidgetKeyFactory
from tests.stub_llm import Reply

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(db, settings):
    settings.HANDOFF_ENABLED = True
    article_save(title="Shipping", body="Orders ship within 24 hours and arrive in 3-5 days.")
    return WidgetKeyFactory()


def test_the_question_before_asking_for_a_person_is_a_gap(shop, use_llm_stub, send_now):
    conversation = ConversationFactory(widget_key=shop)
    use_llm_stub.script(Reply(text="I am not sure about that."))
    question = send_now(conversation, "Can I pay with a gift card?").message
    send_now(conversation, "I want to talk to a human")  # a handoff rule: no bot reply
    gap = KnowledgeGap.objects.get()
    assert (gap.question, gap.reason, gap.count) == (
        "Can I pay with a gift card?",
        KnowledgeGap.Reason.HANDOFF,
        1,
    )
    assert gap.last_message_id == question.pk
    assert gap.widget_key_id == shop.pk


def test_the_widget_button_records_the_last_question(
    shop, use_llm_stub, send_now, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(widget_key=shop)
    use_llm_stub.script(Reply(text="Hmm."))
    send_now(conversation, "Do you deliver to Iceland?")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(conversation.customer).post(
            f"/api/v1/conversations/{conversation.pk}/handoff/", {}, format="json"
        )
    assert response.status_code == 200, response.content
    assert KnowledgeGap.objects.get().question == "Do you deliver to Iceland?"


def test_the_same_question_twice_counts_twice(shop):
    for _ in range(2):
        conversation = ConversationFactory(widget_key=shop)
        MessageFactory(conversation=conversation, content="Do you ship on Sundays?")
        knowledge_gap_from_handoff_record(conversation_id=conversation.pk)
    assert KnowledgeGap.objects.get().count == 2


def test_asking_for_a_person_first_records_nothing(shop, send_now):
    conversation = ConversationFactory(widget_key=shop)
    send_now(conversation, "real person please")
    assert conversation.events.filter(kind="handoff_requested").exists()
    assert not KnowledgeGap.objects.exists()


def test_without_a_knowledge_base_nothing_is_recorded(
    settings, send_now, use_llm_stub, django_capture_on_commit_callbacks
):
    settings.HANDOFF_ENABLED = True
    conversation = ConversationFactory()
    use_llm_stub.script(Reply(text="Hmm."))
    send_now(conversation, "Can I pay with a gift card?")
    with django_capture_on_commit_callbacks(execute=True) as hooks:
        requested = conversation_handoff_request(
            conversation=conversation, reason="test", source="widget"
        )
    assert requested.changed and hooks  # the hook ran and found no knowledge base
    assert not KnowledgeGap.objects.exists()
