"""The throttles count atomically in the real Redis: concurrency cannot beat the limit."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.request import Request

from chatbot.platform.throttling import (
    LIMITERS,
    CustomerWriteThrottle,
    WidgetKeyWriteThrottle,
    WidgetSessionThrottle,
    rate_hits,
)


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # the same Redis database as the counters
    LIMITERS.reset()
    yield
    cache.clear()
    LIMITERS.reset()


class _User:
    is_authenticated = True

    def __init__(self, pk):
        self.pk = pk


def _hammer(throttle_class, requests: int, make_request) -> int:
    """`requests` threads released together, each asking a fresh throttle (as DRF does)."""
    barrier = threading.Barrier(requests)

    def one(_n):
        request = make_request()
        barrier.wait()
        return throttle_class().allow_request(request, view=None)

    with ThreadPoolExecutor(max_workers=requests) as pool:
        return sum(pool.map(one, range(requests)))


@pytest.mark.parametrize(("requests", "limit"), [(50, 30), (100, 15)])
def test_concurrent_sessions_from_one_ip_accept_exactly_the_limit(rates, requests, limit):
    """Before: 50 concurrent session requests against 30/minute were all accepted."""
    rates(widget_session=f"{limit}/minute")

    def make_request():
        request = Request(
            RequestFactory().post("/api/v1/widget/sessions/", REMOTE_ADDR="198.51.100.7")
        )
        request.user = AnonymousUser()
        return request

    assert _hammer(WidgetSessionThrottle, requests, make_request) == limit


def test_concurrent_writes_by_one_customer_accept_exactly_the_limit(rates):
    """Before: 100 concurrent conversation creates by one customer, 85 accepted."""
    rates(chat_user="20/minute")
    user = _User(uuid.uuid4())

    def make_request():
        request = Request(RequestFactory().post("/api/v1/conversations/"))
        request.user = user
        return request

    assert _hammer(CustomerWriteThrottle, 100, make_request) == 20
    # Another customer has a counter of their own.
    other = _User(uuid.uuid4())

    def other_request():
        request = Request(RequestFactory().post("/api/v1/conversations/"))
        request.user = other
        return request

    assert CustomerWriteThrottle().allow_request(other_request(), view=None)


def test_refusal_says_how_long_to_wait(rates):
    rates(widget_session="2/minute")
    throttle = WidgetSessionThrottle()
    request = Request(RequestFactory().post("/", REMOTE_ADDR="198.51.100.8"))
    request.user = AnonymousUser()
    assert throttle.allow_request(request, None) and throttle.allow_request(request, None)
    assert not throttle.allow_request(request, None)
    assert 1 <= throttle.wait() <= 60


# `rate_hits`: the message POST's throttles, several limits in one Redis round trip.


def _writes(user_id: str, key_id: str) -> list[tuple[str, str, str]]:
    return [
        ("3/minute", CustomerWriteThrottle.scope, user_id),
        ("5/minute", WidgetKeyWriteThrottle.scope, key_id),
    ]


def test_rate_hits_count_on_the_throttles_own_counters(rates):
    """One hit through `rate_hits` is one hit for the DRF throttle of the same scope."""
    rates(chat_user="3/minute")
    user = _User(uuid.uuid4())
    hits = _writes(str(user.pk), str(uuid.uuid4()))
    assert rate_hits(hits=hits) is None
    assert rate_hits(hits=hits) is None
    request = Request(RequestFactory().post("/api/v1/conversations/"))
    request.user = user
    assert CustomerWriteThrottle().allow_request(request, view=None)  # the third
    wait = rate_hits(hits=hits)  # the fourth: the customer's limit refuses
    assert wait is not None and 1 <= wait <= 60


def test_rate_hits_count_every_limit_and_answer_the_longest_wait():
    """As DRF: every throttle counts the request, even when another refused it."""
    key_id = str(uuid.uuid4())
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for _ in range(3):
        assert rate_hits(hits=_writes(first, key_id)) is None
    assert rate_hits(hits=_writes(first, key_id)) is not None  # the customer's cap; key: 4
    assert rate_hits(hits=_writes(second, key_id)) is None  # the key's fifth
    wait = rate_hits(hits=_writes(second, key_id))  # the key's sixth: refused
    assert wait is not None and 1 <= wait <= 60


def test_concurrent_rate_hits_accept_exactly_the_limit():
    user_id, key_id = str(uuid.uuid4()), str(uuid.uuid4())
    hits = [("20/minute", CustomerWriteThrottle.scope, user_id)]
    hits.append(("1000/minute", WidgetKeyWriteThrottle.scope, key_id))
    barrier = threading.Barrier(60)

    def one(_n):
        barrier.wait()
        return rate_hits(hits=hits) is None

    with ThreadPoolExecutor(max_workers=60) as pool:
        assert sum(pool.map(one, range(60))) == 20


def test_rate_hits_fail_open_to_local_counts_when_redis_is_unreachable(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    hits = [("2/minute", CustomerWriteThrottle.scope, str(uuid.uuid4()))]
    assert rate_hits(hits=hits) is None
    assert rate_hits(hits=hits) is None
    assert rate_hits(hits=hits) is not None  # still limited, in this process
