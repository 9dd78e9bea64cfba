"""The SSRF guard of HTTP tools: resolved addresses, redirects, DNS rebinding."""

import ipaddress
import socket

import pytest
from django.core.exceptions import ValidationError

from chatbot.tools import ssrf
from chatbot.tools.http_client import http_tool_send
from chatbot.tools.models import Tool
from chatbot.tools.ssrf import AddressRefused, address_forbidden, url_check


def send(url: str, **kwargs):
    return http_tool_send(
        method="GET", url=url, headers={}, params=None, body=None, timeout=2.0, **kwargs
    )


@pytest.fixture
def resolver(monkeypatch):
    """Names resolved as a test says (each name: a list of answers, one per lookup); the
    lookups are counted. Only the DNS answer is replaced: connections are real."""
    answers: dict[str, list[list[str]]] = {}
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        queue = answers[host]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        family = lambda a: socket.AF_INET6 if ":" in a else socket.AF_INET  # noqa: E731
        return [(family(a), socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(ssrf, "getaddrinfo", getaddrinfo)
    return answers, lookups


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.8",
        "172.16.3.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.100.100.200",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - the address under test
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::5",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_refused(settings, address):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = []
    assert address_forbidden(ipaddress.ip_address(address)) != ""


def test_public_addresses_pass_and_the_allow_list_opens_a_private_network(settings):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = ["10.0.5.0/24"]
    assert address_forbidden(ipaddress.ip_address("93.184.216.34")) == ""
    assert address_forbidden(ipaddress.ip_address("10.0.5.9")) == ""
    assert address_forbidden(ipaddress.ip_address("10.0.6.9")) == "private"


def test_a_literal_private_address_is_refused_before_any_connection(settings, tool_stub):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = []
    with pytest.raises(AddressRefused):
        send(f"https://127.0.0.1:{tool_stub.port}/x")
    with pytest.raises(AddressRefused):
        send("https://169.254.169.254/latest/meta-data/")
    assert tool_stub.requests == []


def test_a_name_with_any_private_answer_is_refused(resolver, tool_stub):
    answers, _ = resolver
    answers["mixed.test"] = [["93.184.216.34", "10.0.0.1"]]
    with pytest.raises(AddressRefused, match="private"):
        send("https://mixed.test/x")


def test_dns_rebinding_gets_no_second_lookup(resolver, tool_stub):
    """First answer: the allow-listed stub; any later answer: a private address. The guard
    looks up once and connects to the address it checked."""
    answers, lookups = resolver
    answers["rebind.test"] = [["127.0.0.1"], ["10.0.0.1"]]
    tool_stub.route("/ok", body={"fine": True})

    result = send(f"http://rebind.test:{tool_stub.port}/ok")

    assert result.status == 200 and '"fine"' in result.text
    assert lookups == ["rebind.test"]
    (request,) = tool_stub.calls("/ok")
    assert request.headers["host"] == f"rebind.test:{tool_stub.port}"  # the name, kept


def test_a_name_that_first_answers_private_is_refused(resolver, tool_stub):
    answers, _ = resolver
    answers["rebind.test"] = [["10.0.0.1"], ["127.0.0.1"]]
    with pytest.raises(AddressRefused):
        send(f"http://rebind.test:{tool_stub.port}/ok")
    assert tool_stub.requests == []


def test_every_redirect_is_checked_again(resolver, tool_stub):
    answers, _ = resolver
    answers["metadata.test"] = [["169.254.169.254"]]
    tool_stub.route("/to-metadata", status=302, location="https://metadata.test/latest")
    tool_stub.route("/to-private", status=307, location="http://10.1.2.3/admin")
    tool_stub.route("/to-final", status=302, location="/final")
    tool_stub.route("/final", body={"arrived": True})

    with pytest.raises(AddressRefused):
        send(tool_stub.url("/to-metadata"))
    with pytest.raises(AddressRefused):
        send(tool_stub.url("/to-private"))
    assert send(tool_stub.url("/to-final")).text == '{"arrived": true}'
    assert [r.path for r in tool_stub.requests] == [
        "/to-metadata",
        "/to-private",
        "/to-final",
        "/final",
    ]


def test_tool_urls_must_be_https_without_an_allow_list(settings):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = []
    assert url_check("https://shop.example.com/api") == ""
    assert "https" in url_check("http://shop.example.com/api")
    assert "https" in url_check("ftp://shop.example.com/")
    assert "credentials" in url_check("https://user:pw@shop.example.com/")


@pytest.mark.django_db
def test_a_tool_is_validated_on_save(settings):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = []
    tool = Tool(
        name="no spaces allowed",
        description="x",
        url="http://shop.example.com/",
        parameters={"type": "object", "properties": {"a": {"type": "nonsense"}}},
    )
    with pytest.raises(ValidationError) as raised:
        tool.full_clean()
    assert {"name", "url", "parameters"} <= set(raised.value.message_dict)
    tool = Tool(name="x" * 65, description="x", url="https://a.example/", parameters=[])
    with pytest.raises(ValidationError) as raised:
        tool.full_clean()
    assert {"name", "parameters"} <= set(raised.value.message_dict)
    builtin = Tool(name="get_conversation_status", description="x", url="https://a.example/")
    with pytest.raises(ValidationError, match="built-in"):
        builtin.full_clean()


@pytest.mark.django_db
def test_a_refused_tool_is_told_to_the_model(
    settings, use_llm_stub, widget_key, django_capture_on_commit_callbacks
):
    import json

    from chatbot.tools.models import ToolCall
    from tests.chatbot.moderation_helpers import turn
    from tests.stub_llm import Reply, ToolCalls
    from tests.stub_llm import ToolCall as Call

    from .helpers import http_tool, verified_conversation

    tool = http_tool(widget_key, "https://shop.example.com/orders")
    Tool.objects.filter(pk=tool.pk).update(url="https://169.254.169.254/latest/")
    use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "1"})]))
    use_llm_stub.script(Reply(text="Sorry."))

    reply = turn(verified_conversation(widget_key), "order 1", django_capture_on_commit_callbacks)

    assert reply.content == "Sorry."
    assert ToolCall.objects.get().status == "refused"
    envelope = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    assert envelope["status"] == "error" and "refused" in envelope["error"]
