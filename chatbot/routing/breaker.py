"""A circuit breaker per LLM endpoint, its state in Redis so every worker process shares it.

closed ──N failures within the window──▶ open ──cool-down──▶ half-open ──probe ok──▶ closed
                                           ▲                     │
                                           └──── probe failed ───┘

* closed: calls flow; each health failure (5xx, 429, timeout, connection, cut stream) is
  added to a sliding window (a sorted set scored by Redis' own clock, so workers on
  different machines agree).
* open: no call is sent until the cool-down key expires.
* half-open: exactly one caller wins `SET NX` on the probe key and sends one call; all
  others still see "open". The probe's success closes the breaker, its failure re-opens
  it for a full cool-down. The probe key expires on its own if the prober dies.

Each transition is one Lua script, so two workers can never both decide to probe or
double-count a trip. Without REDIS_URL (the single-process demo) an in-process breaker
with the same rules is used.
"""

from __future__ import annotations

import threading
import time
import uuid
from enum import StrEnum
from functools import cache
from typing import Protocol

from django.conf import settings

KEY_PREFIX = "chatdesk:breaker:"


class Decision(StrEnum):
    ALLOW = "allow"  # closed: go ahead
    PROBE = "probe"  # half-open and this caller is the one prober
    OPEN = "open"  # do not call


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Breaker(Protocol):
    def acquire(self) -> Decision: ...

    def record_failure(self, *, probe: bool) -> None: ...

    def record_success(self) -> None: ...

    def release_probe(self) -> None: ...

    def state(self) -> State: ...


def _params() -> tuple[int, int, int]:
    return (
        max(1, settings.LLM_BREAKER_FAILURE_THRESHOLD),
        max(1, int(settings.LLM_BREAKER_WINDOW_SECONDS * 1000)),
        max(1, int(settings.LLM_BREAKER_COOLDOWN_SECONDS * 1000)),
    )


# --- Redis ---------------------------------------------------------------------------------

# KEYS: open, tripped, probe. ARGV: probe_ttl_ms.
_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 'open' end
if redis.call('EXISTS', KEYS[2]) == 0 then return 'allow' end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return 'probe' end
return 'open'
"""

# KEYS: fails, open, tripped, probe. ARGV: threshold, window_ms, cooldown_ms, is_probe, member.
_FAILURE = """
if ARGV[4] == '1' then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[4])
  return 'open'
end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'open' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('SET', KEYS[3], '1')
  redis.call('DEL', KEYS[1])
  return 'open'
end
return 'closed'
"""

# KEYS: fails, open, tripped, probe.
_SUCCESS = """
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
end
return 'closed'
"""


@cache
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


@cache
def _scripts(url: str):
    client = _redis_client(url)
    return (
        client.register_script(_ACQUIRE),
        client.register_script(_FAILURE),
        client.register_script(_SUCCESS),
    )


# (failure threshold, window ms, cool-down ms); None: the LLM_BREAKER_* settings.
Params = tuple[int, int, int] | None


class RedisBreaker:
    def __init__(self, key: str, *, url: str, probe_ttl: float, params: Params = None):
        self._params = params
        base = f"{KEY_PREFIX}{key}:"
        self._fails, self._open, self._tripped, self._probe = (
            base + "fails",
            base + "open",
            base + "tripped",
            base + "probe",
        )
        self._client = _redis_client(url)
        self._acquire, self._failure, self._success = _scripts(url)
        self._probe_ttl_ms = max(1000, int(probe_ttl * 1000))

    def acquire(self) -> Decision:
        result = self._acquire(
            keys=[self._open, self._tripped, self._probe], args=[self._probe_ttl_ms]
        )
        return Decision(result.decode() if isinstance(result, bytes) else result)

    def record_failure(self, *, probe: bool) -> None:
        threshold, window_ms, cooldown_ms = self._params or _params()
        self._failure(
            keys=[self._fails, self._open, self._tripped, self._probe],
            args=[threshold, window_ms, cooldown_ms, "1" if probe else "0", uuid.uuid4().hex],
        )

    def record_success(self) -> None:
        self._success(keys=[self._fails, self._open, self._tripped, self._probe])

    def release_probe(self) -> None:
        self._client.delete(self._probe)

    def state(self) -> State:
        is_open, tripped = self._client.exists(self._open), self._client.exists(self._tripped)
        if is_open:
            return State.OPEN
        return State.HALF_OPEN if tripped else State.CLOSED


# --- In-process (no Redis: the single-process demo) ------------------------------------------


class _LocalState:
    def __init__(self):
        self.failures: list[float] = []
        self.open_until = 0.0
        self.tripped = False
        self.probe_until = 0.0


_local_lock = threading.Lock()
_local_states: dict[str, _LocalState] = {}


class LocalBreaker:
    def __init__(self, key: str, *, probe_ttl: float, params: Params = None):
        self._params = params
        self._key = key
        self._probe_ttl = probe_ttl

    def _state(self) -> _LocalState:
        return _local_states.setdefault(self._key, _LocalState())

    def acquire(self) -> Decision:
        now = time.monotonic()
        with _local_lock:
            s = self._state()
            if now < s.open_until:
                return Decision.OPEN
            if not s.tripped:
                return Decision.ALLOW
            if now >= s.probe_until:
                s.probe_until = now + self._probe_ttl
                return Decision.PROBE
            return Decision.OPEN

    def record_failure(self, *, probe: bool) -> None:
        threshold, window_ms, cooldown_ms = self._params or _params()
        now = time.monotonic()
        with _local_lock:
            s = self._state()
            if probe:
                s.open_until, s.probe_until = now + cooldown_ms / 1000, 0.0
                return
            if s.tripped:
                return
            s.failures = [t for t in s.failures if t > now - window_ms / 1000] + [now]
            if len(s.failures) >= threshold:
                s.open_until, s.tripped, s.failures = now + cooldown_ms / 1000, True, []

    def record_success(self) -> None:
        with _local_lock:
            if self._state().tripped:
                _local_states[self._key] = _LocalState()

    def release_probe(self) -> None:
        with _local_lock:
            self._state().probe_until = 0.0

    def state(self) -> State:
        with _local_lock:
            s = self._state()
            if time.monotonic() < s.open_until:
                return State.OPEN
            return State.HALF_OPEN if s.tripped else State.CLOSED


def breaker_for(key: str, *, probe_ttl: float = 60.0, params: Params = None) -> Breaker:
    """The breaker of one endpoint (or tool: chatbot.tools); `probe_ttl` bounds how long a
    vanished prober blocks; `params` overrides the LLM_BREAKER_* thresholds."""
    if settings.REDIS_URL:
        return RedisBreaker(key, url=settings.REDIS_URL, probe_ttl=probe_ttl, params=params)
    return LocalBreaker(key, probe_ttl=probe_ttl, params=params)


def breakers_reset() -> None:
    """Forget every breaker's state (tests, or an operator after fixing an endpoint)."""
    if settings.REDIS_URL:
        client = _redis_client(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{KEY_PREFIX}*", count=500))
        if keys:
            client.delete(*keys)
    with _local_lock:
        _local_states.clear()
