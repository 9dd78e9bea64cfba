"""The event bus that carries a conversation's live events to SSE clients.

Redis Streams in production and tests: one stream per conversation, capped and expiring,
so a client that connects late or reconnects with `Last-Event-ID` resumes exactly where
it left off, whichever web node it lands on. Without Redis (the single-process demo) an
in-process bus with the same semantics is used.

Event ids are Redis stream ids (`<ms>-<seq>`), which are ordered and embed a timestamp;
the in-process bus mints ids of the same form.

A stream is read through `listen()`. With Redis, one reader per process (per event loop,
`_Hub`) XREADs every subscribed conversation at once on one connection and fans events out
to the local subscribers; a new subscription wakes that XREAD through a per-hub wake-up
stream. A subscriber registers first, then reads its backlog with XRANGE from its cursor,
then takes the fan-out, dropping what it already has: no gap, no repeat. All of it runs on
one small blocking pool, so a process holds a bounded number of Redis connections however
many streams are open.

`stream_slot_acquire()` caps concurrent streams (per customer, per client IP) across
processes: a sorted set of stream ids scored by their last sign of life, so a crashed
process's slots expire instead of leaking.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import orjson
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

STREAM_MAXLEN = 2000  # events kept per conversation (approximate trim)
STREAM_TTL_SECONDS = 24 * 3600
ASYNC_READ_TIMEOUT_SECONDS = 120  # must exceed SSE_HEARTBEAT_SECONDS (the XREAD block)
POOL_MAX_CONNECTIONS = 8  # per process and event loop: the hub's XREAD + short commands
HUB_BLOCK_MS = 5000  # the hub's XREAD block; new subscriptions wake it early
SUBSCRIBER_BUFFER = 1000  # events buffered per subscriber; past it, it re-reads with XRANGE
SLOT_TTL_SECONDS = 60  # a stream slot not refreshed for this long is free again


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str  # delta | message | status | error
    raw: bytes  # the payload's JSON as published: relayed to SSE clients as it is

    @property
    def data(self) -> dict:
        return orjson.loads(self.raw)

    def sse(self) -> bytes:
        return b"id: %b\nevent: %b\ndata: %b\n\n" % (
            self.id.encode(),
            self.event.encode(),
            self.raw,
        )


_DJANGO_JSON = DjangoJSONEncoder()
# Datetimes as Django writes them (DjangoJSONEncoder: milliseconds, "Z"); UUIDs, str keys
# and the rest natively, in one C call per event rather than json's Python encoder.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS


def _dumps(data: dict) -> bytes:
    return orjson.dumps(data, default=_DJANGO_JSON.default, option=_ORJSON_OPTIONS)


def _parse_id(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


_EVENT_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")


def valid_event_id(event_id: str) -> bool:
    """`<ms>-<seq>` or `<ms>`, ASCII digits only (int() would also take " 1", "+1", "①")."""
    return _EVENT_ID.fullmatch(event_id) is not None


class EventBus(Protocol):
    def publish(self, conversation_id: str, event: str, data: dict) -> str: ...

    def publish_many(self, conversation_id: str, events: list[tuple[str, dict]]) -> list[str]:
        """Several events of one moment, in order, in one round trip; their ids."""
        ...

    async def read(self, conversation_id: str, after: str, block_ms: int) -> list[Event]:
        """Events after id `after`, waiting up to `block_ms` for the first one."""
        ...

    def delete(self, conversation_id: str) -> None: ...

    def listen(
        self, conversation_id: str, after: str, heartbeat_ms: int
    ) -> AsyncIterator[list[Event]]:
        """Batches of events after id `after`, in order; an empty batch after `heartbeat_ms`
        of silence. Raises RedisError when the bus becomes unavailable."""
        ...

    async def stream_slot_acquire(self, *, limits: dict[str, int], stream_id: str) -> str | None:
        """Take one stream slot under every key in `limits` ({key: cap}); None if taken,
        else the key whose cap is reached."""
        ...

    async def stream_slot_refresh(self, *, keys: list[str], stream_id: str) -> None: ...

    async def stream_slot_release(self, *, keys: list[str], stream_id: str) -> None: ...


def _key(conversation_id: str) -> str:
    return f"chatdesk:events:{conversation_id}"


def _after_id(event_id: str) -> str:
    """The smallest id after `event_id` (an exclusive XRANGE start on any Redis version)."""
    ms, seq = _parse_id(event_id)
    return f"{ms}-{seq + 1}"


def _decode(entries) -> list[Event]:
    return [
        Event(raw_id.decode(), fields[b"e"].decode(), fields[b"d"]) for raw_id, fields in entries
    ]


class _Subscription:
    """One SSE stream's mailbox in the hub: events pushed by the hub's reader."""

    __slots__ = ("error", "events", "flag", "key", "lagged")

    def __init__(self, key: str):
        self.key = key
        self.events: list[Event] = []
        self.flag = asyncio.Event()
        self.lagged = False  # the buffer overflowed: re-read from the cursor with XRANGE
        self.error: Exception | None = None

    def push(self, events: list[Event]) -> None:
        if len(self.events) + len(events) > SUBSCRIBER_BUFFER:
            self.events.clear()
            self.lagged = True
        else:
            self.events.extend(events)
        self.flag.set()

    def fail(self, error: Exception) -> None:
        self.error = error
        self.flag.set()


class _Hub:
    """One XREAD over every subscribed stream of this event loop, fanned out locally.

    Each subscribed key has one cursor (the last id fanned out; a new key starts at its
    first subscriber's cursor). Adding a key XADDs to this hub's own wake-up stream, which
    is part of the XREAD, so the read is re-issued at once with the new key.
    """

    def __init__(self, client):
        self._client = client
        self._subs: dict[str, set[_Subscription]] = {}
        self._cursors: dict[str, str] = {}
        self._wake_key = f"chatdesk:wake:{uuid.uuid4().hex}"
        self._wake_pending = False
        self._task: asyncio.Task | None = None

    def subscribe(self, key: str, after: str) -> _Subscription:
        sub = _Subscription(key)
        self._subs.setdefault(key, set()).add(sub)
        if key not in self._cursors:
            self._cursors[key] = after
            self._wake()
        if self._task is None or self._task.done():
            self._wake_pending = False
            self._task = asyncio.get_running_loop().create_task(self._run())
        return sub

    def unsubscribe(self, sub: _Subscription) -> None:
        # The key stays in an XREAD already sent; its events are then dropped.
        subs = self._subs.get(sub.key)
        if subs is None:
            return
        subs.discard(sub)
        if not subs:
            del self._subs[sub.key]
            self._cursors.pop(sub.key, None)

    def _wake(self) -> None:
        if self._wake_pending or self._task is None or self._task.done():
            return
        self._wake_pending = True
        asyncio.get_running_loop().create_task(self._send_wake())

    async def _send_wake(self) -> None:
        try:
            await self._client.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
        except Exception:  # the reader notices a dead Redis on its own
            logger.warning("could not wake the event hub", exc_info=True)

    async def _run(self) -> None:
        import redis

        try:
            # Our own wake-up entry gives the cursor: no later wake-up can be missed.
            wake_id = (await self._client.xadd(self._wake_key, {"w": "1"}, maxlen=1)).decode()
            await self._client.expire(self._wake_key, STREAM_TTL_SECONDS)
            while self._subs:
                self._wake_pending = False
                streams = {self._wake_key: wake_id, **self._cursors}
                response = await self._client.xread(streams, block=HUB_BLOCK_MS, count=500)
                for raw_key, entries in response or []:
                    key = raw_key.decode()
                    if key == self._wake_key:
                        wake_id = entries[-1][0].decode()
                        continue
                    subs = self._subs.get(key)
                    if not subs or not entries:
                        continue
                    events = _decode(entries)
                    self._cursors[key] = events[-1].id
                    for sub in subs:
                        sub.push(events)
        except Exception as exc:
            if not isinstance(exc, redis.RedisError):
                logger.exception("event hub failed")
                exc = redis.RedisError(f"event hub failed: {exc!r}")
            for subs in self._subs.values():
                for sub in subs:
                    sub.fail(exc)
            self._subs.clear()
            self._cursors.clear()


# KEYS: slot sets; ARGV: ttl, stream id, one cap per key. Returns 0, or the index of the
# first key whose cap is reached (nothing taken then). Redis's clock keeps nodes agreeing.
_SLOT_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - ttl)
  if redis.call('ZCARD', key) >= tonumber(ARGV[2 + i]) then return i end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('EXPIRE', key, ttl)
end
return 0
"""

_SLOT_REFRESH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now, ARGV[2])
  redis.call('EXPIRE', key, tonumber(ARGV[1]))
end
return 0
"""


class RedisEventBus:
    def __init__(self, url: str):
        import redis
        import redis.asyncio

        self._url = url
        # Publishing runs on the request path (after a send commits) and in workers: a Redis
        # that does not answer must cost seconds, not the OS's minutes-long connect timeout.
        self._sync = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        # Keyed by the loop itself (weakly): a later loop may reuse a dead one's id().
        self._async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._hubs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _async(self):
        # One asyncio client per event loop (a client is bound to the loop that created
        # it), on a blocking pool: a bounded number of connections however many streams.
        import redis.asyncio

        loop = asyncio.get_running_loop()
        client = self._async_clients.get(loop)
        if client is None:
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                self._url,
                max_connections=POOL_MAX_CONNECTIONS,
                timeout=ASYNC_READ_TIMEOUT_SECONDS,
                # An explicit read timeout above any XREAD block: redis-py's asyncio client
                # otherwise gives up on a blocking read after 5 s.
                socket_timeout=ASYNC_READ_TIMEOUT_SECONDS,
                # Per process and loop, so CLIENT LIST tells each pool's connections apart.
                client_name=f"chatdesk-events-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            )
            client = redis.asyncio.Redis(connection_pool=pool)
            self._async_clients[loop] = client
        return client

    def _hub(self) -> _Hub:
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None:
            hub = self._hubs[loop] = _Hub(self._async())
        return hub

    def publish(self, conversation_id: str, event: str, data: dict) -> str:
        key = _key(conversation_id)
        payload = _dumps(data)
        fields = {"e": event, "d": payload}
        if event == "delta":
            # The hot path: deltas always sit between a reply's status and final message
            # events, which (re)set the stream's expiry; one command is enough here.
            event_id = self._sync.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)
            return event_id.decode()
        with self._sync.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, maxlen=STREAM_MAXLEN, approximate=True)
            pipe.expire(key, STREAM_TTL_SECONDS)
            event_id, _ = pipe.execute()
        return event_id.decode()

    def publish_many(self, conversation_id: str, events: list[tuple[str, dict]]) -> list[str]:
        key = _key(conversation_id)
        with self._sync.pipeline(transaction=False) as pipe:
            for event, data in events:
                pipe.xadd(
                    key, {"e": event, "d": _dumps(data)}, maxlen=STREAM_MAXLEN, approximate=True
                )
            pipe.expire(key, STREAM_TTL_SECONDS)
            *event_ids, _ = pipe.execute()
        return [event_id.decode() for event_id in event_ids]

    async def read(self, conversation_id: str, after: str, block_ms: int) -> list[Event]:
        """One batch from `listen()`: streams should keep one `listen()` open instead."""
        async with contextlib.aclosing(self.listen(conversation_id, after, block_ms)) as feed:
            return await anext(feed)

    async def listen(
        self, conversation_id: str, after: str, heartbeat_ms: int
    ) -> AsyncIterator[list[Event]]:
        key = _key(conversation_id)
        hub = self._hub()
        sub = hub.subscribe(key, after)  # first: whatever the hub reads from now on is ours
        cursor = after
        backlog = True
        try:
            while True:
                if backlog:  # what was there before we subscribed, or while we lagged
                    entries = await self._async().xrange(key, min=_after_id(cursor), count=500)
                    if entries:
                        events = _decode(entries)
                        cursor = events[-1].id
                        yield events
                        continue
                    backlog = False
                if sub.error is not None:
                    raise sub.error
                if sub.lagged:
                    sub.lagged, backlog = False, True
                    continue
                if not sub.events:
                    sub.flag.clear()
                    try:
                        await asyncio.wait_for(sub.flag.wait(), timeout=heartbeat_ms / 1000)
                    except TimeoutError:
                        yield []
                    continue
                pending, sub.events = sub.events, []
                bound = _parse_id(cursor)
                fresh = [e for e in pending if _parse_id(e.id) > bound]  # drop what XRANGE gave
                if fresh:
                    cursor = fresh[-1].id
                    yield fresh
        finally:
            hub.unsubscribe(sub)

    async def stream_slot_acquire(self, *, limits: dict[str, int], stream_id: str) -> str | None:
        keys = [key for key, cap in limits.items() if cap > 0]
        if not keys:
            return None
        caps = [limits[key] for key in keys]
        full = await self._async().eval(
            _SLOT_ACQUIRE, len(keys), *keys, SLOT_TTL_SECONDS, stream_id, *caps
        )
        return keys[int(full) - 1] if full else None

    async def stream_slot_refresh(self, *, keys: list[str], stream_id: str) -> None:
        if keys:
            await self._async().eval(_SLOT_REFRESH, len(keys), *keys, SLOT_TTL_SECONDS, stream_id)

    async def stream_slot_release(self, *, keys: list[str], stream_id: str) -> None:
        if keys:
            async with self._async().pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zrem(key, stream_id)
                await pipe.execute()

    def delete(self, conversation_id: str) -> None:
        self._sync.delete(_key(conversation_id))


class InProcessEventBus:
    """Same semantics as the Redis bus, for one process (publishers may be other threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._streams: dict[str, deque[Event]] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._seq = itertools.count(1)
        self._slots: dict[str, set[str]] = {}

    def publish(self, conversation_id: str, event: str, data: dict) -> str:
        with self._lock:
            event_id = f"{int(time.time() * 1000)}-{next(self._seq)}"
            stream = self._streams.setdefault(conversation_id, deque(maxlen=STREAM_MAXLEN))
            stream.append(Event(event_id, event, _dumps(data)))
            waiters = list(self._waiters.get(conversation_id, ()))
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)
        return event_id

    def publish_many(self, conversation_id: str, events: list[tuple[str, dict]]) -> list[str]:
        return [self.publish(conversation_id, event, data) for event, data in events]

    def _after(self, conversation_id: str, after: str) -> list[Event]:
        bound = _parse_id(after)
        return [e for e in self._streams.get(conversation_id, ()) if _parse_id(e.id) > bound]

    async def read(self, conversation_id: str, after: str, block_ms: int) -> list[Event]:
        flag = asyncio.Event()
        waiter = (asyncio.get_running_loop(), flag)
        with self._lock:
            events = self._after(conversation_id, after)
            if events or block_ms <= 0:
                return events
            self._waiters.setdefault(conversation_id, set()).add(waiter)
        try:
            await asyncio.wait_for(flag.wait(), timeout=block_ms / 1000)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.get(conversation_id, set()).discard(waiter)
        with self._lock:
            return self._after(conversation_id, after)

    async def listen(
        self, conversation_id: str, after: str, heartbeat_ms: int
    ) -> AsyncIterator[list[Event]]:
        cursor = after
        while True:
            events = await self.read(conversation_id, cursor, heartbeat_ms)
            if events:
                cursor = events[-1].id
            yield events

    async def stream_slot_acquire(self, *, limits: dict[str, int], stream_id: str) -> str | None:
        with self._lock:
            for key, cap in limits.items():
                if cap > 0 and len(self._slots.get(key, ())) >= cap:
                    return key
            for key, cap in limits.items():
                if cap > 0:
                    self._slots.setdefault(key, set()).add(stream_id)
        return None

    async def stream_slot_refresh(self, *, keys: list[str], stream_id: str) -> None:
        return None  # one process: a slot cannot outlive it

    async def stream_slot_release(self, *, keys: list[str], stream_id: str) -> None:
        with self._lock:
            for key in keys:
                self._slots.get(key, set()).discard(stream_id)

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            self._streams.pop(conversation_id, None)


@cache
def _bus_for(url: str) -> EventBus:
    return RedisEventBus(url) if url else InProcessEventBus()


def get_event_bus() -> EventBus:
    return _bus_for(settings.EVENT_BUS_URL)


def event_streams_delete(conversation_ids) -> None:
    """Forget conversations' live events (erasure, retention). Best effort: streams expire
    on their own, so a Redis hiccup must not undo the database work already committed."""
    bus = get_event_bus()
    for conversation_id in conversation_ids:
        try:
            bus.delete(str(conversation_id))
        except Exception:
            logger.exception("could not delete the event stream of a conversation")
