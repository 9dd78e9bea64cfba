"""The event bus's fan-out: one XREAD per process serves every stream, on a bounded pool."""

import asyncio
import uuid

import pytest
import redis
from django.conf import settings

from chatbot.platform import event_bus
from chatbot.platform.event_bus import InProcessEventBus, RedisEventBus


@pytest.fixture
def bus():
    if not settings.EVENT_BUS_URL:
        pytest.fail(
            "these tests need Redis: EVENT_BUS_URL is empty (chatbot/settings/test.py sets it)"
        )
    return RedisEventBus(settings.EVENT_BUS_URL)


def _conversation() -> str:
    return f"test-{uuid.uuid4().hex}"


async def _collect(feed, into: list, until: int, timeout: float = 10) -> None:
    async def run():
        async for events in feed:
            into.extend(events)
            if len(into) >= until:
                return

    await asyncio.wait_for(run(), timeout)


def _pool_connections(bus) -> int:
    """Connections Redis holds for this event loop's pool (earlier tests' loops have their
    own pools, named apart, whose connections may linger until collected)."""
    name = bus._async().connection_pool.connection_kwargs["client_name"]
    clients = redis.Redis.from_url(settings.EVENT_BUS_URL).client_list()
    return sum(1 for c in clients if c.get("name") == name)


def test_many_streams_share_a_bounded_number_of_redis_connections(bus):
    conversations = [_conversation() for _ in range(150)]
    start = bus.publish(conversations[0], "status", {"n": -1})

    async def scenario():
        received = [[] for _ in conversations]
        feeds = [bus.listen(c, start, heartbeat_ms=5000) for c in conversations]
        tasks = [
            asyncio.create_task(_collect(feed, got, until=3))
            for feed, got in zip(feeds, received, strict=True)
        ]
        await asyncio.sleep(0.3)  # every stream subscribed and waiting
        for n in range(3):
            for conversation in conversations:
                await asyncio.to_thread(bus.publish, conversation, "delta", {"n": n})
        await asyncio.gather(*tasks)
        connections = _pool_connections(bus)
        for feed in feeds:
            await feed.aclose()
        return received, connections

    received, connections = asyncio.run(scenario())
    assert all([e.data["n"] for e in got] == [0, 1, 2] for got in received)
    assert 1 <= connections <= event_bus.POOL_MAX_CONNECTIONS


def test_a_late_subscriber_reads_its_backlog_then_the_live_events_without_gap_or_repeat(bus):
    conversation = _conversation()
    first = bus.publish(conversation, "status", {"n": 0})

    async def scenario():
        early, late = [], []
        early_task = asyncio.create_task(
            _collect(bus.listen(conversation, first, 5000), early, until=40)
        )
        await asyncio.sleep(0.1)
        for n in range(1, 21):  # the hub is already reading this stream
            await asyncio.to_thread(bus.publish, conversation, "delta", {"n": n})
        # Joins a key the hub already follows, its cursor well behind the hub's.
        late_task = asyncio.create_task(
            _collect(bus.listen(conversation, first, 5000), late, until=40)
        )
        for n in range(21, 41):
            await asyncio.to_thread(bus.publish, conversation, "delta", {"n": n})
        await asyncio.gather(early_task, late_task)
        return early, late

    early, late = asyncio.run(scenario())
    assert [e.data["n"] for e in early] == list(range(1, 41))
    assert [e.data["n"] for e in late] == list(range(1, 41))


def test_a_stream_resumes_after_a_given_id_and_heartbeats_when_idle(bus):
    conversation = _conversation()
    ids = [bus.publish(conversation, "delta", {"n": n}) for n in range(5)]

    async def scenario():
        feed = bus.listen(conversation, ids[1], heartbeat_ms=200)
        batches = [await anext(feed), await anext(feed)]
        await feed.aclose()
        one_off = await bus.read(conversation, ids[3], block_ms=100)
        return batches, one_off, await bus.read(conversation, ids[4], block_ms=100)

    (backlog, idle), one_off, nothing = asyncio.run(scenario())
    assert [e.id for e in backlog] == ids[2:]
    assert idle == []
    assert [e.id for e in one_off] == ids[4:] and nothing == []


def test_stream_slots_are_capped_released_and_expire(bus, monkeypatch):
    key = f"chatdesk:sse:slots:test:{uuid.uuid4().hex}"

    async def scenario():
        taken = [await bus.stream_slot_acquire(limits={key: 2}, stream_id=s) for s in "abc"]
        await bus.stream_slot_release(keys=[key], stream_id="a")
        again = await bus.stream_slot_acquire(limits={key: 2}, stream_id="d")
        return taken, again

    taken, again = asyncio.run(scenario())
    assert taken == [None, None, key]
    assert again is None

    # A crashed process never releases: its slots lapse after SLOT_TTL_SECONDS.
    monkeypatch.setattr(event_bus, "SLOT_TTL_SECONDS", 1)
    stale = f"chatdesk:sse:slots:test:{uuid.uuid4().hex}"

    async def crashed():
        await bus.stream_slot_acquire(limits={stale: 1}, stream_id="lost")
        blocked = await bus.stream_slot_acquire(limits={stale: 1}, stream_id="x")
        await asyncio.sleep(1.2)
        return blocked, await bus.stream_slot_acquire(limits={stale: 1}, stream_id="y")

    assert asyncio.run(crashed()) == (stale, None)


def test_the_in_process_bus_listens_and_caps_the_same_way():
    bus = InProcessEventBus()
    start = bus.publish("c", "status", {"n": -1})

    async def scenario():
        feed = bus.listen("c", start, heartbeat_ms=100)
        idle = await anext(feed)
        bus.publish("c", "delta", {"n": 0})
        live = await anext(feed)
        await feed.aclose()
        caps = [await bus.stream_slot_acquire(limits={"k": 1}, stream_id=s) for s in "ab"]
        await bus.stream_slot_release(keys=["k"], stream_id="a")
        caps.append(await bus.stream_slot_acquire(limits={"k": 1}, stream_id="b"))
        return idle, live, caps

    idle, live, caps = asyncio.run(scenario())
    assert idle == [] and [e.data for e in live] == [{"n": 0}]
    assert caps == [None, "k", None]


@pytest.mark.parametrize("kind", ["redis", "in-process"])
def test_publish_many_adds_the_events_in_order_in_one_round_trip(bus, kind):
    target = bus if kind == "redis" else InProcessEventBus()
    conversation = _conversation()
    first = target.publish(conversation, "status", {"n": 0})
    ids = target.publish_many(
        conversation, [("delta", {"n": 1}), ("error", {"n": 2}), ("message", {"n": 3})]
    )
    assert len(ids) == 3
    events = asyncio.run(target.read(conversation, first, 100))
    assert [(e.id, e.event, e.data) for e in events] == [
        (ids[0], "delta", {"n": 1}),
        (ids[1], "error", {"n": 2}),
        (ids[2], "message", {"n": 3}),
    ]
    if kind == "redis":  # the stream's expiry is (re)set with them
        client = redis.Redis.from_url(settings.EVENT_BUS_URL)
        assert 0 < client.ttl(event_bus._key(conversation)) <= event_bus.STREAM_TTL_SECONDS
