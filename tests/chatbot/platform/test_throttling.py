"""The throttles count atomically in the real Redis: concurrency cannot beat the limit."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.test import RequestFactory
from rest_framework.request import Request

from chatbot.platform.throttling import LIMITERS, CustomerWriteThrottle, WidgetSessionThrottle


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
