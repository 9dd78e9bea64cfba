"""Configuration read on every turn, kept in each process until it changes: a *generation*.

A generation is a token in the shared cache (Redis). Whoever changes what the cached values
were computed from calls `changed()`: the writing process forgets at once (it may read its
own writes before they commit), and the token is replaced when the change commits, so every
other process reads again at its next use (one cache GET per use). Without a shared cache
(the demo's local memory, or Redis down) the token is the process's own and values are read
again after `refresh_seconds` at the latest.

Used by the widget keys' CORS origins (accounts.selectors), the knowledge base
(chatbot.knowledge.freshness) and the tools (chatbot.tools.selectors).
Values are shared between the threads of a process: treat them as read-only.
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

T = TypeVar("T")


class Generation:
    def __init__(self, key: str, *, refresh_seconds: float = 600.0) -> None:
        self.key = key
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0
        self._values: dict[str, object] = {}

    def shared(self) -> str | None:
        """The shared token (created if missing), or None when the cache is unreachable."""
        try:
            token = cache.get(self.key)
            if token is None:
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                token = cache.get(self.key)
        except Exception:  # a cache outage must not fail a turn: local values then
            logger.warning("generation %s unreadable", self.key, exc_info=True)
            return None
        return token

    def cached(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()`, reused while the generation is unchanged."""
        token = self.shared()
        now = time.monotonic()
        with self._lock:
            if token != self._token or now - self._read_at > self.refresh_seconds:
                self._values.clear()
                self._token, self._read_at = token, now
            if name in self._values:
                return self._values[name]  # type: ignore[return-value]
        value = compute()
        with self._lock:
            if self._token == token:
                self._values[name] = value
        return value

    def forget_local(self) -> None:
        """This process's values are read again at their next use."""
        with self._lock:
            self._values.clear()
            self._read_at = float("-inf")  # monotonic time starts at boot: never 0

    def replace(self) -> None:
        """A new token now: every process reads again at its next use."""
        try:
            cache.set(self.key, uuid.uuid4().hex, timeout=None)
        except Exception:  # the other processes then refresh by refresh_seconds
            logger.warning("generation %s not replaced", self.key, exc_info=True)
        self.forget_local()

    def changed(self) -> None:
        """What the values come from changed: this process forgets now, every process once
        the change has committed."""
        self.forget_local()
        transaction.on_commit(self.replace)
