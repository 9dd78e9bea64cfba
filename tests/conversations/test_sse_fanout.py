"""SSE under real uvicorn: stream caps (429) and one customer's many streams starving no one.

No worker: events are published straight onto the bus, as the worker would.
`SSE_FANOUT_STREAMS` (default 120, above redis-py's old 100-connection pool) sets how many
streams the greedy customer opens; bench/sse_fanout.py runs this with 300 and prints figures.
"""

import asyncio
import os
import statistics
import time

import httpx
import pytest
import redis
from django.conf import settings

from accounts.services import api_token_create
from chatbot.platform import event_bus
from chatbot.platform.event_bus import RedisEventBus
from tests.factories import ConversationFactory, UserFactory
from tests.servers import AsgiServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def serve(worker_env, artifacts_dir):
    if not settings.EVENT_BUS_URL:
        pytest.fail(
            "these tests need Redis: EVENT_BUS_URL is empty (chatbot/settings/test.py sets it)"
        )
    servers = []

    def start(**overrides) -> AsgiServer:
        env = {
            **worker_env,
            "SSE_HEARTBEAT_SECONDS": "0.5",
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            **{k: str(v) for k, v in overrides.items()},
        }
        servers.append(AsgiServer(env, artifacts_dir).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def _customer():
    user = UserFactory()
    conversation = ConversationFactory(customer=user)
    headers = {"Authorization": f"Bearer {api_token_create(user=user)}"}
    return conversation, headers


def _url(server, conversation) -> str:
    return f"{server.url}/api/v1/conversations/{conversation.id}/events/"


def test_streams_over_the_customer_or_ip_cap_get_429_and_a_closed_stream_frees_its_slot(serve):
    server = serve(SSE_MAX_STREAMS_PER_CUSTOMER=2, SSE_MAX_STREAMS_PER_IP=3)
    (conversation, headers), (other, other_headers) = _customer(), _customer()

    async def scenario():
        async with httpx.AsyncClient(timeout=10) as client:

            async def open_(conv, hdrs):
                request = client.build_request("GET", _url(server, conv), headers=hdrs)
                return await client.send(request, stream=True)

            first = [await open_(conversation, headers) for _ in range(2)]
            over_customer = await open_(conversation, headers)
            await over_customer.aread()
            third_on_ip = await open_(other, other_headers)
            over_ip = await open_(other, other_headers)
            await over_ip.aread()
            await first[0].aclose()  # the client goes away: its slot comes back
            reopened = None
            for _ in range(50):
                reopened = await open_(conversation, headers)
                if reopened.status_code == 200:
                    break
                await reopened.aread()
                await asyncio.sleep(0.1)
            statuses = [r.status_code for r in first] + [third_on_ip.status_code]
            for response in [first[1], third_on_ip, reopened]:
                await response.aclose()
            return statuses, over_customer, over_ip, reopened.status_code

    statuses, over_customer, over_ip, reopened = asyncio.run(scenario())
    assert statuses == [200, 200, 200]
    for refused in (over_customer, over_ip):
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert int(refused.headers["Retry-After"]) > 0
    assert reopened == 200


async def _read_events(response, into: list, expected: int) -> None:
    """Collects (arrival time, event id) for each event."""
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            into.append((time.time(), line[3:].strip()))
            if len(into) >= expected:
                return


def _server_connections(server) -> int:
    clients = redis.Redis.from_url(settings.EVENT_BUS_URL).client_list()
    return sum(
        1 for c in clients if c.get("name", "").startswith(f"chatdesk-events-{server.proc.pid}-")
    )


def fanout(server, streams: int, others: int = 6, events_each: int = 6) -> dict:
    """Open `streams` streams for one customer and one each for `others` customers, publish
    `events_each` events per conversation, and measure what the others receive."""
    greedy, greedy_headers = _customer()
    quiet = [_customer() for _ in range(others)]
    bus = RedisEventBus(settings.EVENT_BUS_URL)

    async def scenario():
        limits = httpx.Limits(max_connections=streams + others + 10)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:

            async def open_(conv, hdrs):
                request = client.build_request("GET", _url(server, conv), headers=hdrs)
                response = await client.send(request, stream=True)
                assert response.status_code == 200, await response.aread()
                return response

            hogs = await asyncio.gather(*[open_(greedy, greedy_headers) for _ in range(streams)])
            watched = [await open_(conv, hdrs) for conv, hdrs in quiet]
            received = [[] for _ in quiet]
            readers = [
                asyncio.create_task(_read_events(r, got, events_each))
                for r, got in zip(watched, received, strict=True)
            ]
            await asyncio.sleep(1)  # every stream past its (empty) backlog
            connections = _server_connections(server)
            sent = {}
            for n in range(events_each):
                await asyncio.to_thread(bus.publish, str(greedy.id), "delta", {"n": n})
                for conv, _ in quiet:
                    at = time.time()
                    event_id = await asyncio.to_thread(bus.publish, str(conv.id), "delta", {"n": n})
                    sent[event_id] = at
                await asyncio.sleep(0.05)
            await asyncio.wait(readers, timeout=20)
            connections = max(connections, _server_connections(server))
            for response in hogs + watched:
                await response.aclose()
            return received, sent, connections

    received, sent, connections = asyncio.run(scenario())
    latencies = [(at - sent[event_id]) * 1000 for got in received for at, event_id in got]
    latencies.sort()
    return {
        "streams_open": streams + others,
        "redis_connections": connections,
        "delivered": sum(len(got) for got in received),
        "expected": others * events_each,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
    }


def test_one_customer_with_many_streams_starves_no_other_customer(serve):
    streams = int(os.environ.get("SSE_FANOUT_STREAMS", "120"))
    server = serve(SSE_MAX_STREAMS_PER_CUSTOMER=streams, SSE_MAX_STREAMS_PER_IP=streams + 50)
    figures = fanout(server, streams)
    print("sse fan-out:", figures)
    assert figures["delivered"] == figures["expected"]
    assert 1 <= figures["redis_connections"] <= event_bus.POOL_MAX_CONNECTIONS
