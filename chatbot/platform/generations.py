"""Configuration read on every turn, kept in each process until it changes: a *generation*.

A generation is a token in the shared cache (Redis). Whoever changes what the cached values
were computed from calls `changed()`: the writing process forgets at once (it may read its
own writes before they commit), and the token is replaced when the change commits, so every
other process reads again at its next use (one cache GET per use; inside `read_once()`, one
MGET for every generation, the first time any is used). Without a shared cache
(the demo's local memory, or Redis down) the token is the process's own and values are read
again after `refresh_seconds` at the latest.

Used by the widget keys' CORS origins (accounts.selectors), the knowledge base
(chatbot.knowledge.freshness) and the tools (chatbot.tools.selectors).
Values are shared between the threads of a process: treat them as read-only.
"""

import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

_ALL: list["Generation"] = []
# Inside read_once(): the tokens read so far in this unit of work (None: outside one).
_tokens_read: contextvars.ContextVar[dict[str, str | None] | None] = contextvars.ContextVar(
    "generation_tokens_read", default=None
)


def generation_keys() -> list[str]:
    """The cache keys of every generation this process uses."""
    return [generation.key for generation in _ALL]


@contextlib.contextmanager
def read_once() -> Iterator[None]:
    """Within the block, every generation's token is read at most once, all of them with
    the first use of any (one MGET): a reply's turn asks the knowledge base's generation
    three times and the tools' once, four GETs a turn otherwise. A change made inside the
    block is seen at once (`changed` and `replace` forget the token read)."""
    reset = _tokens_read.set({})
    try:
        yield
    finally:
        _tokens_read.reset(reset)


class Generation:
    def __init__(self, key: str, *, refresh_seconds: float = 600.0) -> None:
        self.key = key
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0
        self._values: dict[str, object] = {}
        _ALL.append(self)

    def shared(self) -> str | None:
        """The shared token (created if missing), or None when the cache is unreachable."""
        read = _tokens_read.get()
        if read is not None and self.key in read:
            return read[self.key]
        try:
            if read is None:
                token = cache.get(self.key)
            else:
                read.update(cache.get_many(generation_keys()))
                token = read.get(self.key)
            if token is None:
                cache.add(self.key, uuid.uuid4().hex, timeout=None)
                token = cache.get(self.key)
        except Exception:  # a cache outage must not fail a turn: local values then
            logger.warning("generation %s unreadable", self.key, exc_info=True)
            return None
        if read is not None:
            read[self.key] = token
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
        read = _tokens_read.get()
        if read is not None:
            read.pop(self.key, None)
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
