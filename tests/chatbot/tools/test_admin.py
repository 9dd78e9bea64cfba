"""Managers define tools in the admin (the auth header write-only); staff read the ledger
and see each reply's tool calls in the transcript."""

import pytest

from accounts.services import widget_key_create
from chatbot.tools.models import Tool, ToolCall
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="manager"))
    return client


def form(**overrides) -> dict:
    data = {
        "name": "lookup_orders",
        "description": "The customer's orders",
        "parameters": '{"type": "object", "properties": {"order_number": {"type": "string"}}}',
        "url": "https://shop.example.com/api/orders",
        "method": "GET",
        "auth_header_name": "Authorization",
        "new_auth_header": "Bearer s3cret-value",
        "timeout_seconds": "5",
        "effect": "read_only",
        "needs_identity": "on",
        "identity_in": "header",
        "identity_name": "X-Customer-Id",
        "is_enabled": "on",
    }
    data.update(overrides)
    return data


def test_a_manager_adds_a_tool_and_its_auth_header_is_never_shown_again(staff_client):
    key = widget_key_create(name="Shop")

    response = staff_client.post("/admin/tools/tool/add/", form(widget_keys=[str(key.pk)]))

    assert response.status_code == 302, response.content.decode()[:2000]
    tool = Tool.objects.get()
    assert tool.auth_header_value() == "Bearer s3cret-value"
    assert "s3cret" not in tool.auth_header_encrypted
    page = staff_client.get(f"/admin/tools/tool/{tool.pk}/change/").content.decode()
    assert "s3cret" not in page and "set" in page
    listing = staff_client.get("/admin/tools/tool/").content.decode()
    assert "lookup_orders" in listing and "s3cret" not in listing


def test_bad_names_schemas_and_urls_are_refused_with_reasons(staff_client, settings):
    settings.TOOLS_SSRF_ALLOWED_NETWORKS = []
    response = staff_client.post(
        "/admin/tools/tool/add/",
        form(name="look up!", parameters='{"type": "array"}', url="http://shop.example.com/"),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert {"name", "parameters", "url"} <= set(errors)
    assert Tool.objects.count() == 0


def test_at_most_the_configured_number_of_tools_per_widget_key(staff_client, settings):
    settings.TOOLS_MAX_PER_WIDGET_KEY = 1
    key = widget_key_create(name="Shop")
    assert (
        staff_client.post("/admin/tools/tool/add/", form(widget_keys=[str(key.pk)])).status_code
        == 302
    )

    response = staff_client.post(
        "/admin/tools/tool/add/", form(name="second", widget_keys=[str(key.pk)])
    )

    assert "widget_keys" in response.context["adminform"].form.errors


def test_the_ledger_is_listed_read_only_and_shown_in_the_transcript(staff_client):
    conversation = ConversationFactory()
    reply = MessageFactory(conversation=conversation, role="assistant", content="Shipped.")
    row = ToolCall.objects.create(
        conversation=conversation,
        reply=reply,
        tool_name="lookup_orders",
        call_id="call_1",
        arguments_masked={"order_number": "1234"},
        status=ToolCall.Status.SUCCEEDED,
        latency_ms=42,
        result_chars=120,
    )

    listing = staff_client.get("/admin/tools/toolcall/").content.decode()
    detail = staff_client.get(f"/admin/tools/toolcall/{row.pk}/change/")
    transcript = staff_client.get(
        f"/admin/conversations/conversation/{conversation.pk}/change/"
    ).content.decode()

    assert "lookup_orders" in listing and "open transcript" in listing
    assert detail.status_code == 200 and b'name="status"' not in detail.content
    assert staff_client.get("/admin/tools/toolcall/add/").status_code == 403
    assert "1 tool call" in transcript and "42 ms" in transcript and "1234" in transcript
