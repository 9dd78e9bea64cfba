"""chatbot.platform.generations.read_once: a unit of work (a reply's turn) reads every
generation's token once, in one round trip, and still sees its own changes at once."""

import pytest
from django.core.cache import cache

from chatbot.platform import generations
from chatbot.platform.generations import Generation

pytestmark = pytest.mark.django_db

FIRST = Generation("tests:generation:first")
SECOND = Generation("tests:generation:second")


@pytest.fixture
def cache_reads(monkeypatch):
    """The cache's reads, counted (each is one Redis round trip), then done for real."""
    calls: list[str] = []
    get, get_many = cache.get, cache.get_many

    def counted_get(*args, **kwargs):
        calls.append("GET")
        return get(*args, **kwargs)

    def counted_get_many(*args, **kwargs):
        calls.append("MGET")
        return get_many(*args, **kwargs)

    monkeypatch.setattr(cache, "get", counted_get)
    monkeypatch.setattr(cache, "get_many", counted_get_many)
    FIRST.replace()
    SECOND.replace()
    calls.clear()
    return calls


def _computed(generation: Generation, name: str) -> list[str]:
    computed: list[str] = []
    generation.cached(name, lambda: computed.append(name) or name)
    return computed


def test_outside_a_block_every_use_reads_the_token(cache_reads):
    for _ in range(3):
        FIRST.shared()
    SECOND.shared()
    assert cache_reads == ["GET"] * 4


def test_inside_a_block_every_token_is_read_once_in_one_round_trip(cache_reads):
    with generations.read_once():
        for _ in range(3):
            FIRST.shared()
        SECOND.shared()
    assert cache_reads == ["MGET"]
    with generations.read_once():  # a new block, a new read
        SECOND.shared()
    assert cache_reads == ["MGET", "MGET"]


def test_a_block_keeps_the_configuration_it_started_with(cache_reads):
    """Another process's change, committed mid-turn, applies from the next turn: one turn
    never mixes two versions of the settings."""
    assert _computed(FIRST, "value") == ["value"]
    with generations.read_once():
        assert _computed(FIRST, "value") == []
        cache.set(FIRST.key, "written-by-another-process", timeout=None)
        assert _computed(FIRST, "value") == []
    assert _computed(FIRST, "value") == ["value"]


def test_a_change_made_inside_the_block_is_seen_at_once(cache_reads):
    with generations.read_once():
        assert _computed(FIRST, "value") == ["value"]
        FIRST.replace()
        assert _computed(FIRST, "value") == ["value"]
        FIRST.forget_local()
        assert _computed(FIRST, "value") == ["value"]
        assert _computed(SECOND, "value") == ["value"]


def test_a_missing_token_is_created_inside_a_block(cache_reads):
    cache.delete(FIRST.key)
    with generations.read_once():
        token = FIRST.shared()
        assert token is not None
        assert FIRST.shared() == token
    assert cache.get(FIRST.key) == token


def test_an_unreachable_cache_gives_no_token_and_fails_nothing(monkeypatch):
    def unreachable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get_many", unreachable)
    with generations.read_once():
        assert FIRST.shared() is None
        assert _computed(FIRST, "value") == ["value"]
