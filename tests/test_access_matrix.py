"""Access control: every API endpoint, verb and actor, each outcome asserted, and no foreign
data in any body. Plus mass assignment: server-owned fields cannot be written.

Actors: the owner of a conversation (an identified customer), another anonymous visitor,
another identified customer, an anonymous caller, and a staff member (who uses the admin,
so through the API they are just another customer: 404 on others' conversations).
"""

import json

import pytest
from asgiref.sync import async_to_sync
from django.urls import get_resolver

from accounts.models import ApiToken, User
from accounts.services import widget_key_create
from conversations.models import Conversation, Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, MessageFactory, UserFactory, VisitorFactory

pytestmark = pytest.mark.django_db

ACTORS = ["owner", "other_visitor", "other_customer", "anonymous", "staff"]
OTHERS = ["other_visitor", "other_customer", "staff"]
SECRET_TEXT = "owner-secret-question-7731"

C = "/api/v1/conversations/{conv}/"
# (method, path template, body, {actor: expected status}); "*" = every other actor.
MATRIX = [
    ("post", "/api/v1/widget/sessions/", "WIDGET", {"*": 201}),
    ("get", "/api/v1/widget/sessions/", None, {"*": 405}),
    ("get", "/api/v1/conversations/", None, {"anonymous": 401, "*": 200}),
    ("post", "/api/v1/conversations/", {"title": "t"}, {"anonymous": 401, "*": 201}),
    ("delete", "/api/v1/conversations/", None, {"anonymous": 401, "*": 405}),
    ("get", C, None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("patch", C, {"title": "renamed"}, {"owner": 200, "anonymous": 401, "*": 404}),
    ("put", C, {"title": "renamed"}, {"anonymous": 401, "*": 405}),
    ("delete", C, None, {"anonymous": 401, "*": 405}),
    ("post", C + "close/", None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("get", C + "close/", None, {"anonymous": 401, "*": 405}),
    ("get", C + "messages/", None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("post", C + "messages/", {"content": "hello"}, {"owner": 202, "anonymous": 401, "*": 404}),
    ("delete", C + "messages/", None, {"anonymous": 401, "*": 405}),
    ("get", C + "events/", None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("post", C + "events/", None, {"*": 405}),
    # A side effect awaiting the owner's confirmation (chatbot.tools).
    ("get", C + "tool-calls/", None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("post", C + "tool-calls/", {}, {"anonymous": 401, "*": 405}),
    ("post", C + "tool-calls/{call}/confirm/", {}, {"owner": 200, "anonymous": 401, "*": 404}),
    ("post", C + "tool-calls/{call}/cancel/", {}, {"owner": 200, "anonymous": 401, "*": 404}),
    ("get", C + "tool-calls/{call}/confirm/", None, {"anonymous": 401, "*": 405}),
    # Human handoff (docs/handoff.md): only the conversation's customer.
    ("post", C + "handoff/", None, {"owner": 200, "anonymous": 401, "*": 404}),
    ("get", C + "handoff/", None, {"anonymous": 401, "*": 405}),
    # Not waiting for a person: 409 even for the owner; others never learn that much.
    (
        "post",
        C + "followup-email/",
        {"email": "a@b.example"},
        {"owner": 409, "anonymous": 401, "*": 404},
    ),
    # CSAT before the conversation is closed: 400 feedback_invalid.
    (
        "post",
        C + "feedback/",
        {"kind": "csat", "vote": "up"},
        {"owner": 400, "anonymous": 401, "*": 404},
    ),
    ("get", C + "feedback/", None, {"anonymous": 401, "*": 405}),
    ("get", "/api/v1/me/export/", None, {"anonymous": 401, "*": 200}),
    ("post", "/api/v1/me/export/", None, {"anonymous": 401, "*": 405}),
    # Without the confirmation nothing is erased (the erasure itself is tested below).
    ("post", "/api/v1/me/erase/", {}, {"anonymous": 401, "*": 400}),
    ("get", "/api/v1/me/erase/", None, {"anonymous": 401, "*": 405}),
]


def _expected(table: dict, actor: str) -> int:
    return table.get(actor, table.get("*"))


CASES = [
    pytest.param(
        method, path, body, actor, _expected(table, actor), id=f"{method.upper()} {path} as {actor}"
    )
    for method, path, body, table in MATRIX
    for actor in ACTORS
]


@pytest.fixture
def world(db, settings):
    settings.SSE_MAX_STREAM_SECONDS = 0  # the owner's stream ends at once
    owner = UserFactory(username="owner-person", email="owner@example.com")
    conversation = ConversationFactory(customer=owner, title="Owner's title")
    MessageFactory(conversation=conversation, content=SECRET_TEXT)
    users = {
        "owner": owner,
        "other_visitor": VisitorFactory(),
        "other_customer": UserFactory(),
        "staff": UserFactory(is_staff=True),
    }
    clients = {name: client_for(user) for name, user in users.items()}
    from rest_framework.test import APIClient

    clients["anonymous"] = APIClient()
    from chatbot.tools.models import ToolCall

    call = ToolCall.objects.create(
        conversation=conversation,
        tool_name="cancel_order",
        call_id="call_matrix",
        read_only=False,
        label="Cancel order 1?",
        status=ToolCall.Status.AWAITING_CONFIRMATION,
    )
    return {
        "owner": owner,
        "conversation": conversation,
        "call": call,
        "clients": clients,
        "widget_key": widget_key_create(name="Matrix site"),
    }


def _foreign_markers(world) -> list[str]:
    owner = world["owner"]
    return [
        SECRET_TEXT,
        str(world["conversation"].pk),
        str(owner.pk),
        owner.username,
        owner.email,
        "Owner's title",
    ]


@pytest.mark.parametrize(("method", "path", "body", "actor", "status"), CASES)
def test_access_matrix(world, method, path, body, actor, status):
    client = world["clients"][actor]
    url = path.format(conv=world["conversation"].pk, call=world["call"].pk)
    if body == "WIDGET":
        body = {"widget_key": world["widget_key"].public_key}
    kwargs = {"format": "json"} if body is not None else {}
    response = (
        getattr(client, method)(url, body, **kwargs)
        if body is not None
        else getattr(client, method)(url)
    )

    assert response.status_code == status, getattr(response, "content", b"")[:300]
    if response.streaming:
        assert response["Content-Type"].startswith("text/event-stream")
        if response.is_async:

            async def drain(chunks):
                return b"".join([chunk async for chunk in chunks])

            content = async_to_sync(drain)(response.streaming_content).decode()
        else:
            content = b"".join(response.streaming_content).decode()
    else:
        content = response.content.decode()
        if status >= 400:
            assert json.loads(content)["error"]["code"]  # the single error shape
    if actor != "owner":
        for marker in _foreign_markers(world):
            assert marker not in content, f"{marker!r} leaked to {actor}"
    # Nobody but the owner changed the owner's conversation.
    conversation = Conversation.objects.get(pk=world["conversation"].pk)
    if actor != "owner":
        assert conversation.title == "Owner's title" and conversation.status == "open"
        assert conversation.messages.count() == 1
        assert conversation.tool_calls.get().status == "awaiting_confirmation"


def test_matrix_covers_every_api_route():
    """A new API route must be added to the matrix above."""
    covered = {path.split("?")[0] for _m, path, _b, _t in MATRIX}
    routes = set()

    def walk(patterns, prefix=""):
        for p in patterns:
            route = prefix + str(p.pattern)
            if hasattr(p, "url_patterns"):
                walk(p.url_patterns, route)
            else:
                routes.add(route)

    walk(get_resolver().url_patterns)
    api = {
        r
        for r in routes
        if r.startswith("api/v1/") and "schema" not in r and "docs" not in r and "format" not in r
    }
    normalised = set()
    for route in api:
        r = route.replace("(?P<pk>[^/.]+)", "{conv}").replace("<uuid:conversation_id>", "{conv}")
        r = r.replace("<uuid:call_id>", "{call}")
        r = "/" + r.replace("^", "").replace("$", "").replace("\\.", ".")
        normalised.add(r)
    assert normalised <= covered, f"routes missing from the matrix: {normalised - covered}"


class TestMassAssignment:
    def test_conversation_create_ignores_server_owned_fields(self, world):
        client = world["clients"]["other_customer"]
        owner = world["owner"]
        response = client.post(
            "/api/v1/conversations/",
            {
                "title": "mine",
                "customer": str(owner.pk),
                "owner": str(owner.pk),
                "status": "closed",
                "id": str(world["conversation"].pk),
                "created_at": "2000-01-01T00:00:00Z",
            },
            format="json",
        )
        assert response.status_code == 201
        created = Conversation.objects.get(pk=response.json()["id"])
        assert created.pk != world["conversation"].pk
        assert created.customer != owner and created.status == "open"
        assert created.created_at.year > 2000

    def test_conversation_patch_ignores_server_owned_fields(self, world):
        client = world["clients"]["owner"]
        other = UserFactory()
        conv = world["conversation"]
        response = client.patch(
            f"/api/v1/conversations/{conv.pk}/",
            {"title": "ok", "customer": str(other.pk), "status": "closed"},
            format="json",
        )
        assert response.status_code == 200
        conv.refresh_from_db()
        assert conv.title == "ok" and conv.customer == world["owner"] and conv.status == "open"

    def test_message_send_ignores_role_status_model_and_tokens(self, world):
        client = world["clients"]["owner"]
        conv = world["conversation"]
        response = client.post(
            f"/api/v1/conversations/{conv.pk}/messages/",
            {
                "content": "hi",
                "role": "staff",
                "status": "failed",
                "model": "gpt-free",
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "conversation": "x",
                "reply_to": None,
            },
            format="json",
        )
        assert response.status_code == 202
        message = Message.objects.get(pk=response.json()["message"]["id"])
        assert message.role == "user" and message.model == ""
        assert message.prompt_tokens is None and message.conversation_id == conv.pk

    def test_widget_session_cannot_mint_staff_or_identified_users(self, world, api_client):
        response = api_client.post(
            "/api/v1/widget/sessions/",
            {
                "widget_key": world["widget_key"].public_key,
                "is_staff": True,
                "is_superuser": True,
                "is_visitor": False,
                "username": "admin",
            },
            format="json",
        )
        assert response.status_code == 201
        user = User.objects.get(pk=response.json()["visitor_id"])
        assert user.is_visitor and not user.is_staff and not user.is_superuser
        assert user.username != "admin"

    def test_erase_acts_on_the_caller_only(self, world):
        client = world["clients"]["other_customer"]
        owner = world["owner"]
        response = client.post(
            "/api/v1/me/erase/",
            {"confirm": "erase", "user": str(owner.pk), "id": str(owner.pk)},
            format="json",
        )
        assert response.status_code == 200
        assert User.objects.filter(pk=owner.pk).exists()
        assert Conversation.objects.filter(pk=world["conversation"].pk).exists()
        assert ApiToken.objects.filter(user=owner).exists()

    def test_export_takes_no_user_parameter(self, world):
        client = world["clients"]["other_customer"]
        owner = world["owner"]
        body = client.get(f"/api/v1/me/export/?user={owner.pk}&id={owner.pk}").content
        for marker in _foreign_markers(world):
            assert marker.encode() not in body
