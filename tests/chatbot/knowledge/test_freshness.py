"""What a search caches between turns (chatbot.knowledge.freshness): whether a widget key
sees any article (none: no statement at all), the corpus statistics; and that every change
to what a search may find is seen by the next search, in this process and in others."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatbot.knowledge import freshness
from chatbot.knowledge.models import Article, Source
from chatbot.knowledge.retrieval import knowledge_search
from chatbot.knowledge.selectors import knowledge_visible
from chatbot.knowledge.services import article_save, articles_unpublish_missing
from tests.factories import WidgetKeyFactory

pytestmark = pytest.mark.django_db


def _statements(call) -> tuple[object, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [q["sql"] for q in captured.captured_queries]


def test_a_key_without_articles_searches_with_no_statement():
    key = WidgetKeyFactory()
    other = WidgetKeyFactory()
    article_save(title="Shipping times", body="Orders arrive in 3 days.", widget_key_ids=[other.pk])
    hits, sql = _statements(lambda: knowledge_search(query="shipping", widget_key_id=key.pk))
    assert hits == [] and len(sql) == 1 and "EXISTS" in sql[0]  # the flag, read once
    hits, sql = _statements(lambda: knowledge_search(query="shipping", widget_key_id=key.pk))
    assert hits == [] and sql == []
    # The other key does search, and finds its article.
    assert knowledge_search(query="shipping", widget_key_id=other.pk)[0].title == "Shipping times"


def test_saving_publishing_and_restricting_are_seen_by_the_next_search():
    key = WidgetKeyFactory()
    assert knowledge_search(query="refund", widget_key_id=key.pk) == []
    saved = article_save(title="Refunds", body="Refunds take 5 days.", published=False).article
    assert knowledge_search(query="refund", widget_key_id=key.pk) == []
    article_save(title="Refunds", body="Refunds take 5 days.", article=saved)  # published
    assert knowledge_search(query="refund", widget_key_id=key.pk)[0].title == "Refunds"
    saved.widget_keys.set([WidgetKeyFactory().pk])  # restricted to another key
    assert knowledge_search(query="refund", widget_key_id=key.pk) == []
    saved.widget_keys.clear()
    assert knowledge_search(query="refund", widget_key_id=key.pk)[0].title == "Refunds"
    Article.objects.get(pk=saved.pk).delete()
    assert knowledge_search(query="refund", widget_key_id=key.pk) == []


def test_an_import_unpublishing_the_last_article_is_seen():
    source = Source.objects.create(name="faq", location="faq.csv")
    article_save(
        title="Vouchers", body="Gift vouchers never expire.", source=source, external_id="1"
    )
    assert knowledge_visible(widget_key_id=None)
    assert articles_unpublish_missing(source=source, keep_external_ids=set()) == 1
    assert not knowledge_visible(widget_key_id=None)
    assert knowledge_search(query="vouchers", widget_key_id=None) == []


def test_another_process_commit_replaces_the_generation_and_values_are_read_again():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert freshness.cached("probe", compute) == 1
    assert freshness.cached("probe", compute) == 1  # reused
    cache.set(freshness.GENERATION_KEY, "written-by-another-process", timeout=None)
    assert freshness.cached("probe", compute) == 2


def test_the_shared_generation_changes_only_when_the_change_commits(
    django_capture_on_commit_callbacks,
):
    before = cache.get(freshness.GENERATION_KEY) or freshness._shared_generation()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        article_save(title="Opening hours", body="We answer from 9 to 5.")
        assert cache.get(freshness.GENERATION_KEY) == before  # not committed yet
    assert callbacks and cache.get(freshness.GENERATION_KEY) != before


def test_a_cache_outage_falls_back_to_this_process(monkeypatch):
    article_save(title="Warranty", body="Two years on every product.")

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "get", down)
    assert knowledge_search(query="warranty", widget_key_id=None)[0].title == "Warranty"


def test_a_keys_settings_are_cached_until_they_change(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    from chatbot.knowledge.models import KnowledgeSettings
    from chatbot.knowledge.selectors import knowledge_settings_for
    from tests.factories import WidgetKeyFactory

    key = WidgetKeyFactory()
    with django_assert_num_queries(1):
        assert not knowledge_settings_for(widget_key_id=key.pk).answer_only_from_kb
    with django_assert_num_queries(0):
        assert not knowledge_settings_for(widget_key_id=key.pk).answer_only_from_kb
    with django_capture_on_commit_callbacks(execute=True):
        row = KnowledgeSettings.objects.create(widget_key=key, answer_only_from_kb=True)
    assert knowledge_settings_for(widget_key_id=key.pk).answer_only_from_kb
    with django_capture_on_commit_callbacks(execute=True):
        row.delete()
    assert not knowledge_settings_for(widget_key_id=key.pk).answer_only_from_kb
