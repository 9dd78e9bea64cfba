"""API rate limits (DRF throttles) counted atomically in Redis, so every web process shares
them and concurrent requests cannot all slip through. Rates live in
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (env RATE_LIMIT_*). Only writes count (sending a
message, creating or renaming a conversation): reading a transcript or polling it is never
limited here.

The counting is the `limits` package's moving window: one Lua script per request checks
and records the hit in one step in Redis, so N concurrent requests against a limit of L
accept exactly L. Without REDIS_URL (the single-process demo) the same limiter counts in
process memory.

Redis unreachable: the limits fail open onto an in-process limiter with the same rates
(per web process, so the fleet allows up to processes times the rate), a warning is logged once a
minute, and Redis is retried after a short pause. Never a 500 (docs/cost-control.md).

A throttled request answers 429 with `Retry-After` and code `rate_limited` (the exception
handler in chatbot.platform.errors).
"""

import logging
import math
import threading
import time

from django.conf import settings
from django.core.cache import cache
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import BaseThrottle

from .client_ip import client_ip

logger = logging.getLogger(__name__)

_NAMESPACE = "throttle"
# After Redis failed, count locally for this long before trying it again, so a Redis that
# hangs costs one connect timeout per pause, not one per request.
_REDIS_RETRY_AFTER_SECONDS = 5.0
_WARN_EVERY_SECONDS = 60.0
_REDIS_TIMEOUT_SECONDS = 0.5


class _Limiters:
    """The shared (Redis) limiter and the in-process one it falls back to."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._shared: dict[str, MovingWindowRateLimiter] = {}
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.redis_down_until = 0.0
        self._warned_at = -math.inf

    def shared(self) -> MovingWindowRateLimiter | None:
        url = settings.REDIS_URL
        if not url or time.monotonic() < self.redis_down_until:
            return None
        with self._lock:
            if url not in self._shared:
                storage = RedisStorage(
                    url,
                    key_prefix="chatdesk",  # keys: chatdesk:throttle/<scope>/<ident>/…
                    socket_timeout=_REDIS_TIMEOUT_SECONDS,
                    socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
                )
                self._shared[url] = MovingWindowRateLimiter(storage)
            return self._shared[url]

    def redis_failed(self, error: Exception) -> None:
        now = time.monotonic()
        self.redis_down_until = now + _REDIS_RETRY_AFTER_SECONDS
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            logger.warning(
                "rate limits: Redis unreachable (%s); counting in this process only "
                "(fail open) until it is back",
                type(error).__name__,
            )

    def reset(self) -> None:
        """Forget the local counts and any Redis outage (tests)."""
        self.local = MovingWindowRateLimiter(MemoryStorage())
        self.redis_down_until = 0.0
        self._warned_at = -math.inf


LIMITERS = _Limiters()


def _is_storage_error(error: Exception) -> bool:
    import redis

    return isinstance(error, redis.RedisError | OSError)


def parse_rate(rate: str) -> RateLimitItemPerSecond:
    """DRF's rate notation ("30/minute", "5/s", "100/day") as a `limits` item."""
    num, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period.strip()[0]]
    return RateLimitItemPerSecond(int(num), seconds, namespace=_NAMESPACE)


def rate_hit(*, rate: str, scope: str, ident: str) -> float | None:
    """Count one hit of `ident` against `rate`. None: allowed; else seconds to wait."""
    item = parse_rate(rate)
    shared = LIMITERS.shared()
    if shared is not None:
        try:
            if shared.hit(item, scope, ident):
                return None
            return _wait(shared, item, scope, ident)
        except Exception as error:
            if not _is_storage_error(error):
                raise
            LIMITERS.redis_failed(error)
    if LIMITERS.local.hit(item, scope, ident):
        return None
    return _wait(LIMITERS.local, item, scope, ident)


def rate_hits(*, hits: list[tuple[str, str, str]]) -> float | None:
    """Count one hit against each `(rate, scope, ident)` in one Redis round trip.

    The same counting, keys and fallback as `rate_hit` called once per limit (DRF counts
    every throttle of a view even when an earlier one refused): the `limits` library's own
    moving-window script, run for every limit in one pipeline. None: all allowed; else the
    longest wait in seconds."""
    items = [(parse_rate(rate), scope, ident) for rate, scope, ident in hits]
    shared = LIMITERS.shared()
    if shared is not None:
        try:
            return _hits_shared(shared, items)
        except Exception as error:
            if not _is_storage_error(error):
                raise
            LIMITERS.redis_failed(error)
    waits = [
        _wait(LIMITERS.local, item, scope, ident)
        for item, scope, ident in items
        if not LIMITERS.local.hit(item, scope, ident)
    ]
    return max(waits, default=None)


def _hits_shared(limiter: MovingWindowRateLimiter, items: list) -> float | None:
    storage = limiter.storage  # RedisStorage: what `MovingWindowRateLimiter.hit` calls
    now = time.time()
    with storage.get_connection().pipeline(transaction=False) as pipe:
        for item, scope, ident in items:
            storage.lua_acquire_moving_window(
                [storage.prefixed_key(item.key_for(scope, ident))],
                [now, item.amount, item.get_expiry(), 1],
                client=pipe,
            )
        acquired = pipe.execute()
    waits = [
        _wait(limiter, item, scope, ident)
        for (item, scope, ident), ok in zip(items, acquired, strict=True)
        if not ok
    ]
    return max(waits, default=None)


def _wait(limiter: MovingWindowRateLimiter, item, scope: str, ident: str) -> float:
    reset_at, _remaining = limiter.get_window_stats(item, scope, ident)
    return max(1.0, reset_at - time.time())


def rate_keys_forget(*, scopes: list[str], ident: str) -> None:
    """Delete `ident`'s counters in `scopes` (erasure). Raises when Redis is unreachable."""
    rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
    # The DRF cache keys the throttles used before this module counted with `limits`.
    cache.delete_many([f"throttle_{scope}_{ident}" for scope in scopes])
    for scope in scopes:
        if not rates.get(scope):
            continue
        item = parse_rate(rates[scope])
        LIMITERS.local.clear(item, scope, ident)
        if shared := LIMITERS.shared():
            shared.clear(item, scope, ident)


class RateThrottle(BaseThrottle):
    """A DRF throttle over `rate_hit`. Subclasses set `scope` and `get_ident_for`."""

    scope: str = ""

    def __init__(self) -> None:
        self._wait: float | None = None

    def get_rate(self) -> str | None:
        # Read per request (DRF makes a throttle per request): tests' overrides and
        # environment reloads apply at once.
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def get_ident(self, request) -> str:
        return client_ip(request)

    def get_ident_for(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = self.get_rate()
        ident = self.get_ident_for(request) if rate else None
        if ident is None:
            return True
        self._wait = rate_hit(rate=rate, scope=self.scope, ident=ident)
        return self._wait is None

    def wait(self) -> float | None:
        return self._wait


class _WritesOnly:
    def allow_request(self, request, view) -> bool:
        return request.method in SAFE_METHODS or super().allow_request(request, view)


def _user_or_ip(throttle: RateThrottle, request) -> str:
    user = request.user
    if user and user.is_authenticated:
        return str(user.pk)
    return throttle.get_ident(request)


class CustomerWriteThrottle(_WritesOnly, RateThrottle):
    """Per customer (visitor or identified user)."""

    scope = "chat_user"

    def get_ident_for(self, request) -> str | None:
        return _user_or_ip(self, request)


class WidgetKeyWriteThrottle(_WritesOnly, RateThrottle):
    """Per widget key: all the visitors of one embedding together (the bearer token's
    `widget_key_id`). Requests not made through a widget token are not counted here."""

    scope = "chat_widget_key"

    def get_ident_for(self, request) -> str | None:
        widget_key_id = getattr(request.auth, "widget_key_id", None)
        return None if widget_key_id is None else str(widget_key_id)


class WidgetSessionThrottle(RateThrottle):
    """Per client IP address (chatbot.platform.client_ip): new visitor sessions."""

    scope = "widget_session"

    def get_ident_for(self, request) -> str | None:
        return self.get_ident(request)


class PrivacyThrottle(RateThrottle):
    """Exports are heavy and erasure is final: a low per-user rate is plenty."""

    scope = "privacy"

    def get_ident_for(self, request) -> str | None:
        return _user_or_ip(self, request)


# Scopes whose counters are keyed by the user's id (erased with the user).
USER_SCOPES = [CustomerWriteThrottle.scope, PrivacyThrottle.scope]
