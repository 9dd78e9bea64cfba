# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Answering from the knowledge base, in process: sources in the context, [n] citations
stored and shown, knowledge-only refusal and unsupported answers, the offline responder.
The model is the real stub server behind the real openai SDK (tests/stub_llm)."""

import pytest

from chatbot.knowledge.models import Article, Citation, KnowledgeGap, KnowledgeSettings
from chatbot.knowledge.services import article_save
from chatbot.llm import OFFLINE_MODEL
from chatbot.prompt.context import SOURCES_HEADER
from conversations.models import Message, ModerationFlag
from tests.chatbot.moderation_helpers import customer_visible_text
from tests.conftest import client_for
from tests.factories import ConversationFactory, WidgetKeyFactory
from tests.stub_llm import Reply

pytestmark = pytest.mark.django_db

FALLBACK = "I don't know that one, sorry. Shall I fetch a person?"


@pytest.fixture
def shop(db):
    key = WidgetKeyFactory()
    article_save(
        title="Returns and refunds",
        body="# Returns\n\nYou can return any item within 30 days of delivery.\n\n"
        "# Refunds\n\nRefunds reach your card within 5 business days.",
        public_url="https://shop.example.com/help/returns",
    )
    article_save(title="Shipping", body="Orders ship within 24 hours and arrive in 3-5 days.")
    article_save(title="配送时间", body="普通快递3到5个工作日送达，加急配送次日送达。")
    return key


def _conversation(key):
    return ConversationFactory(widget_key=key)


def _chat_requests(stub):
    return [r for r in stub.requests if r.path.endswith("/chat/completions")]


def test_sources_reach_the_model_apart_from_the_instructions(shop, use_llm_stub, send_now):
    use_llm_stub.script(Reply(text="Within 30 days of delivery [1]."))
    send_now(_conversation(shop), "How many days do I have to return an item?")
    messages = _chat_requests(use_llm_stub)[0].messages
    assert [m["role"] for m in messages] == ["system", "system", "user"]
    assert "cite each source" in messages[0]["content"]
    assert SOURCES_HEADER not in messages[0]["content"]  # data never mixed into instructions
    sources = messages[1]["content"]
    assert sources.startswith(SOURCES_HEADER)
    first = "[1] Returns and refunds \u203a Returns\nYou can return any item within 30 days"
    assert first in sources


def test_a_cited_answer_stores_its_citations_and_shows_them(shop, use_llm_stub, send_now):
    conversation = _conversation(shop)
    use_llm_stub.script(Reply(text="You have 30 days [1]; refunds take 5 days [2]."))
    reply = send_now(conversation, "How do returns and refunds work?").reply
    reply.refresh_from_db()
    assert reply.status == Message.Status.COMPLETED
    citations = list(Citation.objects.filter(reply=reply).order_by("number"))
    assert [(c.number, c.title, c.url) for c in citations] == [
        (1, "Returns and refunds", "https://shop.example.com/help/returns"),
        (2, "Returns and refunds", "https://shop.example.com/help/returns"),
    ]
    assert {c.chunk.heading_path[0] for c in citations} == {"Returns", "Refunds"}
    article = Article.objects.get(title="Returns and refunds")
    assert (article.retrieved_count, article.cited_count) == (1, 1)
    # The API and the live `message` event carry them for the widget.
    body = (
        client_for(conversation.customer)
        .get(f"/api/v1/conversations/{conversation.id}/messages/")
        .json()
    )
    shown = next(m for m in body["results"] if m["id"] == str(reply.id))
    assert shown["citations"][0] == {
        "number": 1,
        "title": "Returns and refunds",
        "url": "https://shop.example.com/help/returns",
    }
    # The event's JSON, however it is spaced (the bus writes it compact, with orjson).
    assert '"citations":[{"number":1' in customer_visible_text(conversation.id).replace(" ", "")


def test_a_number_that_was_not_given_is_not_stored(shop, use_llm_stub, send_now):
    use_llm_stub.script(Reply(text="See [1] and also [9]."))
    reply = send_now(_conversation(shop), "return an item").reply
    assert list(Citation.objects.filter(reply=reply).values_list("number", flat=True)) == [1]


def test_knowledge_only_mode_says_it_does_not_know_without_calling_the_model(
    shop, use_llm_stub, send_now
):
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, fallback_text=FALLBACK
    )
    conversation = _conversation(shop)
    reply = send_now(conversation, "Do you sell garden furniture?").reply
    reply.refresh_from_db()
    assert reply.content == FALLBACK and reply.status == Message.Status.COMPLETED
    assert _chat_requests(use_llm_stub) == []
    gap = KnowledgeGap.objects.get()
    assert gap.normalized_text == "do you sell garden furniture" and gap.count == 1
    send_now(conversation, "do you sell  GARDEN furniture")
    gap.refresh_from_db()
    assert gap.count == 2


def test_knowledge_only_mode_falls_back_in_chinese(shop, use_llm_stub, send_now, settings):
    KnowledgeSettings.objects.create(widget_key=shop, answer_only_from_kb=True)
    reply = send_now(_conversation(shop), "你们卖花园家具吗？").reply
    reply.refresh_from_db()
    assert reply.content == settings.KNOWLEDGE_FALLBACK_TEXT_ZH


def test_knowledge_only_mode_replaces_an_answer_citing_nothing(shop, use_llm_stub, send_now):
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, fallback_text=FALLBACK
    )
    conversation = _conversation(shop)
    use_llm_stub.script(Reply(text="Returns are free forever, trust me."))
    reply = send_now(conversation, "How do I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == FALLBACK
    flag = ModerationFlag.objects.get(message=reply)
    assert flag.categories == ["unsupported_answer"] and flag.action == "blocked"
    assert flag.excerpt == "Returns are free forever, trust me."
    assert "free forever" not in customer_visible_text(conversation.id)  # never shown
    assert not Citation.objects.filter(reply=reply).exists()


def test_knowledge_only_mode_rejects_a_source_that_was_not_given(shop, use_llm_stub, send_now):
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, fallback_text=FALLBACK
    )
    use_llm_stub.script(Reply(text="Returns are accepted for a year [7]."))
    reply = send_now(_conversation(shop), "How do I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == FALLBACK
    assert "[7]" in ModerationFlag.objects.get(message=reply).rule


def test_knowledge_only_mode_can_flag_without_replacing(shop, use_llm_stub, send_now):
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, replace_unsupported=False
    )
    use_llm_stub.script(Reply(text="Returns are easy."))
    reply = send_now(_conversation(shop), "How do I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == "Returns are easy."
    assert ModerationFlag.objects.get(message=reply).action == "flagged"


def test_knowledge_only_mode_keeps_a_cited_answer(shop, use_llm_stub, send_now):
    KnowledgeSettings.objects.create(widget_key=shop, answer_only_from_kb=True)
    use_llm_stub.script(Reply(text="Within 30 days [1]."))
    reply = send_now(_conversation(shop), "How do I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == "Within 30 days [1]."
    assert not ModerationFlag.objects.filter(message=reply).exists()


def test_a_threshold_above_every_score_counts_as_nothing_found(shop, use_llm_stub, send_now):
    KnowledgeSettings.objects.create(
        widget_key=shop, answer_only_from_kb=True, min_score=1000, fallback_text=FALLBACK
    )
    reply = send_now(_conversation(shop), "How do I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == FALLBACK


def test_another_keys_articles_never_reach_the_context(use_llm_stub, send_now):
    mine, theirs = WidgetKeyFactory(), WidgetKeyFactory()
    article_save(title="Staff discount", body="Staff get 50% off.", widget_key_ids=[theirs.id])
    send_now(_conversation(mine), "Is there a staff discount?")
    assert "50% off" not in str(_chat_requests(use_llm_stub)[0].messages)


def test_the_offline_responder_quotes_and_cites_the_best_source(shop, settings, send_now):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    conversation = _conversation(shop)
    reply = send_now(conversation, "When will my refund reach my card?").reply
    reply.refresh_from_db()
    assert reply.model == OFFLINE_MODEL
    assert "**Returns and refunds \u203a Refunds** [1]" in reply.content
    assert "> Refunds reach your card within 5 business days." in reply.content
    citation = Citation.objects.get(reply=reply)
    assert citation.url == "https://shop.example.com/help/returns"


def test_the_offline_responder_answers_chinese_from_the_knowledge_base(shop, settings, send_now):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    reply = send_now(_conversation(shop), "快递多久能送到？").reply
    reply.refresh_from_db()
    assert reply.content.startswith("根据我们的帮助文章《配送时间》[1]")
    assert Citation.objects.get(reply=reply).title == "配送时间"


def test_a_reply_without_sources_is_unchanged(use_llm_stub, send_now):
    use_llm_stub.script(Reply(text="Hello!"))
    send_now(ConversationFactory(), "Hi")
    assert [m["role"] for m in _chat_requests(use_llm_stub)[0].messages] == ["system", "user"]


def test_quoting_a_source_word_for_word_is_not_a_system_prompt_leak(shop, use_llm_stub, send_now):
    quote = "You can return any item within 30 days of delivery [1]."
    use_llm_stub.script(Reply(text=quote))
    reply = send_now(_conversation(shop), "Can I return an item?").reply
    reply.refresh_from_db()
    assert reply.content == quote
    assert not ModerationFlag.objects.filter(message=reply).exists()


def test_knowledge_only_refusal_offers_a_person(shop, use_llm_stub, send_now, settings):
    settings.HANDOFF_ENABLED = True
    KnowledgeSettings.objects.create(widget_key=shop, answer_only_from_kb=True)
    reply = send_now(_conversation(shop), "Do you sell garden furniture?").reply
    reply.refresh_from_db()
    assert reply.handoff_offered
    assert reply.conversation.events.get(kind="handoff_offered").reason == "knowledge_gap"
