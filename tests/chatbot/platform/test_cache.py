"""The Redis cache backend shares one client per process (chatbot.platform.cache)."""

import threading

import pytest
from django.conf import settings
from django.core.cache import caches

pytestmark = pytest.mark.skipif(
    "redis" not in settings.CACHES["default"]["BACKEND"].lower(), reason="needs the Redis cache"
)


def _read_in_new_cache_objects(count: int) -> list:
    """What Django does under ASGI: a fresh cache object per request context (here per
    thread, as Django's handler gives each thread its own)."""
    seen = []

    def read() -> None:
        cache = caches.create_connection("default")
        cache.get("chatdesk:test:shared-pool")
        seen.append(cache)

    threads = [threading.Thread(target=read) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return seen


def test_cache_objects_share_one_client_and_its_pool():
    objects = _read_in_new_cache_objects(20)
    clients = {id(cache._cache) for cache in objects}
    assert len(clients) == 1
    pool = objects[0]._cache._get_connection_pool(write=False)
    # The stock backend opened one connection per object (20); a shared pool opens at most
    # one per concurrent reader, and these reads barely overlap.
    assert pool._created_connections < 20


def test_shared_client_still_reads_and_writes():
    writer, reader = _read_in_new_cache_objects(2)
    writer.set("chatdesk:test:shared-value", {"a": 1}, 30)
    assert reader.get("chatdesk:test:shared-value") == {"a": 1}
