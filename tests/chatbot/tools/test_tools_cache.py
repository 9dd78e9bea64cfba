"""A widget key's HTTP tools are read once per process and generation
(chatbot.platform.generations): a change to a tool, or to its keys, is seen at the next turn."""

import pytest

from chatbot.tools.registry import ToolContext
from chatbot.tools.runner import tools_offered
from chatbot.tools.selectors import TOOLS_GENERATION
from tests.factories import WidgetKeyFactory

from .helpers import http_tool

pytestmark = pytest.mark.django_db

URL = "https://shop.example.com/api/orders"


def _offered(key, django_assert_num_queries, queries: int) -> list[str]:
    context = ToolContext(conversation=None, reply=None, external_id="cust-1", widget_key_id=key.pk)
    with django_assert_num_queries(queries):
        return sorted(name for name, o in tools_offered(context).items() if o.tool is not None)


def test_tools_are_read_once_then_again_after_any_change(
    django_assert_num_queries, django_capture_on_commit_callbacks
):
    key, other = WidgetKeyFactory(), WidgetKeyFactory()
    tool = http_tool(key, URL)
    assert _offered(key, django_assert_num_queries, 1) == ["lookup_orders"]
    assert _offered(key, django_assert_num_queries, 0) == ["lookup_orders"]  # cached

    with django_capture_on_commit_callbacks(execute=True):
        tool.is_enabled = False
        tool.save()
    assert _offered(key, django_assert_num_queries, 1) == []

    with django_capture_on_commit_callbacks(execute=True):
        tool.is_enabled = True
        tool.save()
        http_tool(other, URL, name="track_parcel")
    assert _offered(key, django_assert_num_queries, 1) == ["lookup_orders"]
    assert _offered(other, django_assert_num_queries, 1) == ["track_parcel"]

    with django_capture_on_commit_callbacks(execute=True):
        tool.widget_keys.remove(key)  # a key's tools change with the m2m alone
    assert _offered(key, django_assert_num_queries, 1) == []


def test_another_process_change_is_seen_through_the_shared_generation(
    django_assert_num_queries,
):
    key = WidgetKeyFactory()
    http_tool(key, URL)
    assert _offered(key, django_assert_num_queries, 1) == ["lookup_orders"]
    # Another process committed a change: it replaced the token in Redis.
    from django.core.cache import cache

    cache.set(TOOLS_GENERATION.key, "written-by-another-process", timeout=None)
    assert _offered(key, django_assert_num_queries, 1) == ["lookup_orders"]
