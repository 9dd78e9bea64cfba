"""The client address: X-Forwarded-For is believed only through configured proxies."""

import pytest
from django.core.cache import cache
from django.test import RequestFactory

from chatbot.platform.client_ip import client_ip
from chatbot.platform.throttling import LIMITERS

PEER = "198.51.100.10"


def request(xff: str | None = None, peer: str = PEER):
    extra = {"REMOTE_ADDR": peer}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().post("/api/v1/widget/sessions/", **extra)


def test_by_default_the_peer_is_the_client_and_the_header_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = []
    assert client_ip(request("203.0.113.9")) == PEER
    assert client_ip(request("1.2.3.4, 5.6.7.8")) == PEER
    assert client_ip(request()) == PEER


def test_with_one_trusted_proxy_the_right_most_untrusted_hop_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client put "6.6.6.6" in the header itself; our proxy appended the real address.
    assert client_ip(request("6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    assert client_ip(request("203.0.113.9")) == "203.0.113.9"
    assert client_ip(request()) == PEER  # no header: the peer is all we know


def test_trusted_networks_are_skipped_from_the_right(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    settings.TRUSTED_PROXIES = ["10.0.0.0/8", "2001:db8::/32"]
    assert client_ip(request("6.6.6.6, 203.0.113.9, 10.1.1.1", peer="10.0.0.2")) == "203.0.113.9"
    # The peer is not a trusted proxy: its header is not believed at all.
    assert client_ip(request("6.6.6.6")) == PEER
    assert client_ip(request("[2001:db8::5]:443", peer="2001:db8::1")) == "2001:db8::5"


def test_garbage_in_the_header_does_not_become_an_identity(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request("not-an-ip")) == PEER
    assert client_ip(request("1.2.3.4, <script>")) == PEER


@pytest.mark.django_db
def test_spoofed_forwarded_for_does_not_escape_the_per_ip_session_limit(
    api_client, widget_key, settings, rates
):
    """Before: 50 of 50 sessions with a random X-Forwarded-For were accepted after the limit."""
    cache.clear()
    LIMITERS.reset()
    settings.TRUSTED_PROXY_COUNT = 0
    rates(widget_session="3/minute")
    codes = [
        api_client.post(
            "/api/v1/widget/sessions/",
            {"widget_key": widget_key.public_key},
            format="json",
            HTTP_ORIGIN="https://shop.example.com",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
            REMOTE_ADDR=PEER,
        ).status_code
        for n in range(20)
    ]
    assert codes == [201] * 3 + [429] * 17
    cache.clear()
