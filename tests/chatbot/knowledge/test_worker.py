"""Citations end to end through a real Celery worker process: the API takes the question,
the worker searches Postgres, the stub (real SDK) answers citing [n], the reply carries its
sources in the API and the live `message` event; knowledge-only mode refuses in the worker."""

import pytest

from chatbot.knowledge.models import Citation, KnowledgeSettings
from chatbot.knowledge.services import article_save
from tests.chatbot.moderation_helpers import published
from tests.chatbot.replies.test_worker import send, wait_for_reply
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory, WidgetKeyFactory
from tests.stub_llm import Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shop():
    key = WidgetKeyFactory()
    article_save(
        title="Returns and refunds",
        body="Return any unused item within 30 days of delivery.",
        public_url="https://shop.example.com/returns",
    )
    article_save(title="Shipping", body="Orders arrive in 3 to 5 business days.")
    return key


def test_a_cited_answer_through_a_real_worker(start_worker, llm_stub, shop):
    start_worker()
    customer = UserFactory()
    conversation = ConversationFactory(customer=customer, widget_key=shop)
    llm_stub.script(Reply(text="You have 30 days [1].", chunks=3))
    posted = send(client_for(customer), conversation, "How long do I have to return an item?")
    reply = wait_for_reply(posted["reply"]["id"])
    assert reply.status == "completed" and reply.content == "You have 30 days [1]."
    citation = Citation.objects.get(reply=reply)
    assert (citation.number, citation.title, citation.url) == (
        1,
        "Returns and refunds",
        "https://shop.example.com/returns",
    )
    chat = [r for r in llm_stub.requests if r.path.endswith("/chat/completions")]
    assert "[1] Returns and refunds\nReturn any unused item" in chat[0].messages[1]["content"]
    final = [
        d for e, d in published(conversation.id) if e == "message" and d["id"] == str(reply.id)
    ]
    assert final[-1]["citations"] == [
        {"number": 1, "title": "Returns and refunds", "url": "https://shop.example.com/returns"}
    ]


def test_knowledge_only_refusal_through_a_real_worker(start_worker, llm_stub, shop):
    start_worker()
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, fallback_text="Not in our help pages, sorry."
    )
    customer = UserFactory()
    conversation = ConversationFactory(customer=customer, widget_key=shop)
    posted = send(client_for(customer), conversation, "Do you repair bicycles?")
    reply = wait_for_reply(posted["reply"]["id"])
    assert reply.content == "Not in our help pages, sorry."
    assert not [r for r in llm_stub.requests if r.path.endswith("/chat/completions")]
