"""What a search reuses from one turn to the next, and when it must read again.

Each process keeps, per knowledge-base *generation*: whether any published article is
visible to a widget key (none: the search is skipped, no statement at all, so a shop without
a knowledge base pays nothing) and the corpus statistics BM25F needs
(chatbot.knowledge.ranking.corpus_stats). The generation is a token in the shared cache
(Redis), replaced after every commit that changes what a search may find: an article saved,
deleted, (un)published or restricted to other widget keys, chunks re-indexed (the signals in
`connect_signals`, and `changed()` from the services' bulk updates). One cache read per use;
the process that wrote forgets at once, the others at their next read after the commit.

Without a shared cache (the demo's local memory, or Redis down) the token is the process's
own, and values are re-read after REFRESH_SECONDS at the latest.
"""

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

GENERATION_KEY = "knowledge:generation"
# An upper bound on how long a value is reused when no shared cache tells of changes.
REFRESH_SECONDS = 600.0

T = TypeVar("T")

_lock = threading.Lock()
_generation: str | None = None
_read_at = 0.0
_values: dict[str, object] = {}


def _shared_generation() -> str | None:
    try:
        token = cache.get(GENERATION_KEY)
        if token is None:
            cache.add(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
            token = cache.get(GENERATION_KEY)
    except Exception:  # a cache outage must not fail a turn: local values then
        logger.warning("knowledge cache: generation unreadable", exc_info=True)
        return None
    return token


def cached(name: str, compute: Callable[[], T]) -> T:
    """`compute()`, reused while the knowledge base's generation is unchanged."""
    global _generation, _read_at
    token = _shared_generation()
    now = time.monotonic()
    with _lock:
        if token != _generation or now - _read_at > REFRESH_SECONDS:
            _values.clear()
            _generation, _read_at = token, now
        if name in _values:
            return _values[name]  # type: ignore[return-value]
    value = compute()
    with _lock:
        if _generation == token:
            _values[name] = value
    return value


def forget_local() -> None:
    """This process's values are read again at their next use."""
    global _read_at
    with _lock:
        _values.clear()
        _read_at = 0.0


def generation_replace() -> None:
    try:
        cache.set(GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # the other processes then refresh by REFRESH_SECONDS
        logger.warning("knowledge cache: generation not replaced", exc_info=True)
    forget_local()


def changed() -> None:
    """The knowledge base changed: this process forgets now (it may read its own writes
    before they commit), every process once the change has committed."""
    forget_local()
    transaction.on_commit(generation_replace)


def _on_article_change(sender, **kwargs) -> None:
    changed()


def _on_restriction_change(sender, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        changed()


def connect_signals() -> None:
    """Called from the app's ready(): saves and deletes of articles, and their widget keys."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from .models import Article

    post_save.connect(_on_article_change, sender=Article, dispatch_uid="knowledge-fresh-save")
    post_delete.connect(_on_article_change, sender=Article, dispatch_uid="knowledge-fresh-del")
    m2m_changed.connect(
        _on_restriction_change,
        sender=Article.widget_keys.through,
        dispatch_uid="knowledge-fresh-keys",
    )
