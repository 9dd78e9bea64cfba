"""The event bus that carries a conversation's live events to SSE clients.

Redis Streams in production and tests: one stream per conversation, capped and expiring,
so a client that connects late or reconnects with `Last-Event-ID` resumes exactly where
it left off, whichever web node it lands on. Without Redis (the single-process demo) an
in-process bus with the same semantics is used.

Event ids are Redis stream ids (`<ms>-<seq>`), which are ordered and embed a timestamp;
the in-process bus mints ids of the same form.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

logger = logging.getLogger(__name__)

STREAM_MAXLEN = 2000  # events kept per conversation (approximate trim)
STREAM_TTL_SECONDS = 24 * 3600
ASYNC_READ_TIMEOUT_SECONDS = 120  # must exceed SSE_HEARTBEAT_SECONDS (the XREAD block)


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str  # delta | message | status | error
    data: dict

    def sse(self) -> bytes:
        payload = _dumps(self.data)
        return f"id: {self.id}\nevent: {self.event}\ndata: {payload}\n\n".encode()


def _dumps(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, cls=DjangoJSONEncoder)


def _parse_id(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


_EVENT_ID = re.compile(r"[0-9]{1,20}(-[0-9]{1,20})?")


def valid_event_id(event_id: str) -> bool:
    """`<ms>-<seq>` or `<ms>`, ASCII digits only (int() would also take " 1", "+1", "①")."""
    return _EVENT_ID.fullmatch(event_id) is not None


class EventBus(Protocol):
    def publish(self, conversation_id: str, event: str, data: dict) -> str: ...

    async def read(self, conversation_id: str, after: str, block_ms: int) -> list[Event]:
        """Events after id `after`, waiting up to `block_ms` for the first one."""
        ...

    def delete(self, conversation_id: str) -> None: ...


def _key(conversation_id: str) -> str:
    return f"chatdesk:events:{conversation_id}"


class RedisEventBus:
    def __init__(self, url: str):
        import redis
        import redis.asyncio

        self._url = url
        # Publishing runs on the request path (after a send commits) and in workers: a Redis
        # that does not answer must cost seconds, not the OS's minutes-long connect timeout.
        self._sync = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self._async_clients: dict[int, redis.asyncio.Redis] = {}
        self._async_factory = redis.asyncio.Redis.from_url

    def _async(self):
        # One asyncio client per event loop: a client is bound to the loop that created it.
        loop = asyncio.get_running_loop()
        client = self._async_clients.get(id(loop))
        if client is None:
            # An explicit read timeout above any XREAD block: redis-py's asyncio client
            # otherwise gives up on a blocking read after 5 s.
            client = self._async_factory(self._url, socket_timeout=ASYNC_READ_TIMEOUT_SECONDS)
            self._async_clients[id(loop)] = client
        return client

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

    async def read(self, conversation_id: str, after: str, block_ms: int) -> list[Event]:
        response = await self._async().xread(
            {_key(conversation_id): after}, block=block_ms, count=500
        )
        events = []
        for _stream, entries in response or []:
            for raw_id, fields in entries:
                events.append(
                    Event(raw_id.decode(), fields[b"e"].decode(), json.loads(fields[b"d"]))
                )
        return events

    def delete(self, conversation_id: str) -> None:
        self._sync.delete(_key(conversation_id))


class InProcessEventBus:
    """Same semantics as the Redis bus, for one process (publishers may be other threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._streams: dict[str, deque[Event]] = {}
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}
        self._seq = itertools.count(1)

    def publish(self, conversation_id: str, event: str, data: dict) -> str:
        with self._lock:
            event_id = f"{int(time.time() * 1000)}-{next(self._seq)}"
            stream = self._streams.setdefault(conversation_id, deque(maxlen=STREAM_MAXLEN))
            stream.append(Event(event_id, event, json.loads(_dumps(data))))
            waiters = list(self._waiters.get(conversation_id, ()))
        for loop, flag in waiters:
            loop.call_soon_threadsafe(flag.set)
        return event_id

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
