"""SQL statements per turn stay constant and few (docs/benchmarks.md): the POST and the
worker's whole turn, counted on the real database with the real stub model.

In a test every transaction is a savepoint inside the test's own: those statements
(SAVEPOINT / RELEASE / ROLLBACK TO) are not sent in production and are not counted as work here."""

from unittest import mock

import pytest

from accounts.models import ModelPreference
from chatbot.knowledge.models import KnowledgeSettings
from chatbot.knowledge.services import article_save
from chatbot.replies import pipeline
from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, WidgetKeyFactory

pytestmark = pytest.mark.django_db

POST_STATEMENTS = 4  # token; conversation + lock; counts + stamp; both inserts (docs/benchmarks.md)
# claim (which also tells whether a later message could supersede the reply, so the burst
# check needs no statement of its own in a turn like these), history, ledger, and the
# reply's write with the conversation's stamp in one statement (Postgres)
WORKER_STATEMENTS = 4
# The knowledge base's share (chatbot.knowledge) when the widget key sees no published
# article: none (whether it sees any is cached until the knowledge base changes).
KNOWLEDGE_STATEMENTS = 0
# With a knowledge base: the search, and the retrieval counts written with the reply; plus
# one statement for the lexemes of question words this process has not seen before.
KNOWLEDGE_BASE_STATEMENTS = 2
NEW_WORDS_STATEMENTS = 1


def _work(captured) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))
    ]


@pytest.fixture
def conversation(settings, use_llm_stub, monkeypatch):
    settings.CHAT_DEBOUNCE_SECONDS = 1.5  # on, as by default: its checks are counted
    # A turn slower than 2 s renews its lease (one UPDATE per 2 s: pipeline.heartbeat); on
    # a loaded test machine even this short one may be, so renewals are not counted here.
    monkeypatch.setattr(pipeline, "HEARTBEAT_EVERY_SECONDS", 3600.0)
    conversation = ConversationFactory()
    ModelPreference.objects.create(user=conversation.customer, model="gpt-test")
    return conversation


def _post(client, conversation, content: str, client_message_id: str | None = None):
    body = {"content": content}
    if client_message_id:  # as the widget sends it
        body["client_message_id"] = client_message_id
    with mock.patch("chatbot.replies.lifecycle.reply_enqueue"):  # the worker runs below
        response = client.post(
            f"/api/v1/conversations/{conversation.id}/messages/", body, format="json"
        )
    assert response.status_code == 202, response.content
    return response.json()


def test_a_post_sends_a_constant_few_statements(conversation, django_assert_max_num_queries):
    client = client_for(conversation.customer)
    first = _post(client, conversation, "warm-up")  # the token's first use is recorded once
    pipeline.reply_generate(reply_id=first["reply"]["id"])
    for turn in range(3):  # a longer conversation costs the same
        with django_assert_max_num_queries(POST_STATEMENTS + 2) as captured:
            # The idempotency key is looked up in the counts' statement, not one of its own.
            body = _post(client, conversation, f"question {turn}", client_message_id=f"m{turn}")
        assert len(_work(captured)) <= POST_STATEMENTS, _work(captured)
        pipeline.reply_generate(reply_id=body["reply"]["id"])


def test_a_retried_post_writes_nothing_in_as_few_statements(
    conversation, django_assert_max_num_queries
):
    client = client_for(conversation.customer)
    first = _post(client, conversation, "question", client_message_id="m1")
    with django_assert_max_num_queries(POST_STATEMENTS + 3) as captured:
        again = _post(client, conversation, "question", client_message_id="m1")
    # token; conversation + lock; counts (the key found; the stamp rolled back); the replay
    assert len(_work(captured)) <= POST_STATEMENTS, _work(captured)
    assert again == first
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_a_worker_turn_sends_a_constant_few_statements(conversation, django_assert_max_num_queries):
    client = client_for(conversation.customer)
    # The first turn fills the shared caches (preference, catalogue): once, not per turn.
    pipeline.reply_generate(reply_id=_post(client, conversation, "warm-up")["reply"]["id"])
    for turn in range(3):
        body = _post(client, conversation, f"question {turn}")
        with django_assert_max_num_queries(
            WORKER_STATEMENTS + KNOWLEDGE_STATEMENTS + 4
        ) as captured:
            reply = pipeline.reply_generate(reply_id=body["reply"]["id"])
        assert reply.status == Message.Status.COMPLETED
        assert len(_work(captured)) <= WORKER_STATEMENTS + KNOWLEDGE_STATEMENTS, _work(captured)


def test_a_widget_keys_turn_reads_its_tools_and_settings_once(
    settings, use_llm_stub, monkeypatch, django_assert_max_num_queries
):
    """A widget key's HTTP tools and knowledge settings are cached per process until they
    change (chatbot.platform.generations): its turns cost what a keyless turn costs, and
    whether they changed is one cache read a turn (generations.read_once)."""
    monkeypatch.setattr(pipeline, "HEARTBEAT_EVERY_SECONDS", 3600.0)
    key = WidgetKeyFactory()
    KnowledgeSettings.objects.create(widget_key=key, min_score=0.1)
    conversation = ConversationFactory(widget_key=key)
    ModelPreference.objects.create(user=conversation.customer, model="gpt-test")
    client = client_for(conversation.customer)
    pipeline.reply_generate(reply_id=_post(client, conversation, "warm-up")["reply"]["id"])
    generation_reads = _generation_reads(monkeypatch)
    for turn in range(2):
        body = _post(client, conversation, f"question {turn}")
        generation_reads.clear()
        with django_assert_max_num_queries(WORKER_STATEMENTS + 4) as captured:
            reply = pipeline.reply_generate(reply_id=body["reply"]["id"])
        assert reply.status == Message.Status.COMPLETED
        assert len(_work(captured)) <= WORKER_STATEMENTS, _work(captured)
        assert generation_reads == ["get_many"], generation_reads


def _generation_reads(monkeypatch) -> list[str]:
    """The cache reads of a generation's token (chatbot.platform.generations), recorded."""
    from django.core.cache import cache

    from chatbot.platform.generations import generation_keys

    keys = set(generation_keys())
    reads: list[str] = []
    for name in ("get", "get_many"):
        original = getattr(cache, name)

        def recorded(first, *args, _name=name, _original=original, **kwargs):
            asked = {first} if isinstance(first, str) else set(first)
            if asked & keys:
                reads.append(_name)
            return _original(first, *args, **kwargs)

        monkeypatch.setattr(cache, name, recorded)
    return reads


def test_a_turn_with_a_knowledge_base_adds_the_search_alone(
    conversation, django_assert_max_num_queries
):
    article_save(title="Shipping times", body="Orders arrive in 3 to 5 business days.")
    article_save(title="Returns", body="Return any item within 30 days for a refund.")
    client = client_for(conversation.customer)
    pipeline.reply_generate(
        reply_id=_post(client, conversation, "How long does shipping take?")["reply"]["id"]
    )
    for question, extra in (
        ("How long does shipping take?", 0),  # every word seen: no statement for lexemes
        ("Can I get a refund for shipping?", NEW_WORDS_STATEMENTS),
    ):
        body = _post(client, conversation, question)
        budget = WORKER_STATEMENTS + KNOWLEDGE_BASE_STATEMENTS + extra
        with django_assert_max_num_queries(budget + 4) as captured:
            reply = pipeline.reply_generate(reply_id=body["reply"]["id"])
        assert reply.status == Message.Status.COMPLETED
        work = _work(captured)
        assert len(work) <= budget, work
        assert any("knowledge_chunk" in sql for sql in work), work  # it did search
