# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Retrieval on Postgres: full text with title above body, Chinese segmented, scoped to the
widget key inside the query."""

import uuid

import pytest

from chatbot.knowledge.models import Article
from chatbot.knowledge.retrieval import knowledge_search, reciprocal_rank_fusion
from chatbot.knowledge.services import article_save
from tests.factories import WidgetKeyFactory

pytestmark = pytest.mark.django_db


def _save(title, body, **kwargs):
    return article_save(title=title, body=body, **kwargs).article


def test_the_article_answering_the_question_ranks_first():
    _save("Shipping times", "Orders arrive in 3 to 5 business days. Express takes one day.")
    _save("Returns", "You can return any item within 30 days for a full refund.")
    _save("Payment methods", "We accept cards, PayPal and bank transfer.")
    hits = knowledge_search(query="How long does delivery of my order take?", widget_key_id=None)
    assert hits and hits[0].title == "Shipping times"
    hits = knowledge_search(query="can I return this and get a refund", widget_key_id=None)
    assert hits[0].title == "Returns"
    assert hits[0].score > 0 and hits[0].url == "" and hits[0].text.startswith("You can")


def test_a_title_match_outranks_a_body_match():
    _save("Gift cards", "Buy them online in any amount.")
    _save("Vouchers", "A gift cards question? See the other article. " * 3)
    hits = knowledge_search(query="gift cards", widget_key_id=None)
    assert [h.title for h in hits][:2] == ["Gift cards", "Vouchers"]


def test_english_is_stemmed_and_simple_is_not():
    _save("Cancelling orders", "You may cancel an order before it ships.", language="en")
    assert knowledge_search(query="cancel", widget_key_id=None)[0].title == "Cancelling orders"
    simple = _save("Annulation", "Vous pouvez annuler une commande.", language="fr")
    assert simple.search_config == Article.SearchConfig.SIMPLE
    assert knowledge_search(query="annuler", widget_key_id=None)[0].title == "Annulation"
    assert knowledge_search(query="annulé", widget_key_id=None) == []


def test_chinese_questions_find_chinese_articles():
    _save("退货政策", "收到商品后30天内可以申请退货退款。请保留原包装和发票。")
    _save("配送时间", "普通快递一般3到5个工作日送达，加急配送次日送达。")
    _save("支付方式", "我们支持支付宝、微信支付和银行卡付款。")
    assert knowledge_search(query="我想退货，怎么办？", widget_key_id=None)[0].title == "退货政策"
    assert knowledge_search(query="快递多久能到", widget_key_id=None)[0].title == "配送时间"
    assert knowledge_search(query="可以用微信支付吗", widget_key_id=None)[0].title == "支付方式"


def test_bigram_segmentation_also_finds_them(settings):
    settings.KNOWLEDGE_CHINESE_SEGMENTER = "bigram"
    _save("退货政策", "收到商品后30天内可以申请退货退款。")
    _save("配送时间", "普通快递一般3到5个工作日送达。")
    assert knowledge_search(query="怎么申请退货", widget_key_id=None)[0].title == "退货政策"


def test_unpublished_articles_are_never_retrieved():
    _save("Hidden policy", "Secret discount codes are listed here.", published=False)
    assert knowledge_search(query="secret discount codes", widget_key_id=None) == []


def test_a_widget_key_never_retrieves_another_keys_articles():
    """Hostile: key B asks exactly for key A's restricted article, with every trick."""
    key_a, key_b = WidgetKeyFactory(), WidgetKeyFactory()
    _save("Wholesale prices", "Partner price list: 40% off.", widget_key_ids=[key_a.id])
    _save("Public prices", "Retail prices are on the website.")
    for query in ["wholesale prices partner price list", "Wholesale prices", "40% off", "*"]:
        for hit in knowledge_search(query=query, widget_key_id=key_b.id, limit=50):
            assert hit.title != "Wholesale prices"
        for hit in knowledge_search(query=query, widget_key_id=None, limit=50):
            assert hit.title != "Wholesale prices"
    allowed = knowledge_search(query="wholesale prices", widget_key_id=key_a.id)
    assert allowed[0].title == "Wholesale prices"
    # An unknown key sees only unrestricted articles, never an error or everything.
    stranger = knowledge_search(query="prices", widget_key_id=uuid.uuid4(), limit=50)
    assert {h.title for h in stranger} == {"Public prices"}


def test_scoping_is_in_the_query_so_limit_counts_only_visible_chunks():
    key_a, key_b = WidgetKeyFactory(), WidgetKeyFactory()
    for i in range(8):
        _save(f"Refund rule {i} for A", "refund refund refund", widget_key_ids=[key_a.id])
    _save("Refunds", "How a refund works.")
    hits = knowledge_search(query="refund", widget_key_id=key_b.id, limit=3)
    assert [h.title for h in hits] == ["Refunds"]


def test_questions_with_nothing_searchable_return_nothing():
    _save("Shipping", "We ship.")
    for query in ["", "   ", "?!", "'); DROP TABLE knowledge_chunk; --"]:
        assert knowledge_search(query=query, widget_key_id=None) == []
    assert knowledge_search(query="ship", widget_key_id=None)


def test_reciprocal_rank_fusion_rewards_agreement():
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 4]], k=60)
    assert max(fused, key=fused.get) == 1
    assert fused[3] > fused[2] and fused[4] == pytest.approx(1 / 63)


def test_a_search_is_one_statement_once_its_words_are_known():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chatbot.knowledge import retrieval

    retrieval._LEXEMES.clear()  # words other tests searched for are known to this process
    _save("Shipping times", "Orders arrive in 3 to 5 business days.")
    knowledge_search(query="how long is shipping", widget_key_id=None)  # flag, words, search
    with CaptureQueriesContext(connection) as captured:
        hits = knowledge_search(query="shipping: how long?", widget_key_id=None)
    assert hits[0].title == "Shipping times"
    assert len(captured.captured_queries) == 1, captured.captured_queries
    with CaptureQueriesContext(connection) as captured:
        knowledge_search(query="shipping to Iceland", widget_key_id=None)
    assert len(captured.captured_queries) == 2  # the new word's lexemes, then the search


def test_the_gin_indexes_keep_no_pending_list():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class"
            " WHERE relname IN ('knowledge_chunk_fts_gin', 'knowledge_chunk_fts_zh_gin')"
        )
        options = dict(cursor.fetchall())
    assert options == {
        "knowledge_chunk_fts_gin": ["fastupdate=off"],
        "knowledge_chunk_fts_zh_gin": ["fastupdate=off"],
    }
