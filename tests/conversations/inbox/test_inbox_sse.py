"""The inbox's live streams under a real ASGI server: session-authenticated, for staff with
the inbox permission only; a handoff reaches the agent's stream as an `inbox` event."""

import time

import httpx
import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.roles import AGENT_GROUP, roles_sync
from accounts.services import api_token_create
from conversations.services import conversation_handoff_request
from tests.conversations.test_sse import SSEReader
from tests.factories import ConversationFactory, UserFactory

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _session_cookie(user) -> dict:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


@pytest.fixture
def web_server(start_worker, worker_env, artifacts_dir):
    """The app under uvicorn with a worker behind it (as conftest's asgi_server, with a
    roomier start-up allowance: the suite shares 2 cores with other runs)."""
    from tests.servers import AsgiServer

    start_worker()
    env = {
        **worker_env,
        "SSE_HEARTBEAT_SECONDS": "0.5",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    server = AsgiServer(env, artifacts_dir).start(timeout=120)
    yield server
    server.stop()


@pytest.fixture
def people(db):
    roles_sync()
    agent = UserFactory(username="alex", is_staff=True)
    agent.groups.add(Group.objects.get(name=AGENT_GROUP))
    return {
        "agent": agent,
        "roleless": UserFactory(username="staff-none", is_staff=True),
        "customer": UserFactory(username="shopper"),
    }


def test_only_staff_with_the_inbox_permission_get_the_streams(web_server, people):
    conversation = ConversationFactory(customer=people["customer"])
    urls = [
        f"{web_server.url}/admin/inbox/api/events/",
        f"{web_server.url}/admin/inbox/api/conversations/{conversation.pk}/events/",
    ]
    bearer = {"Authorization": f"Bearer {api_token_create(user=people['customer'])}"}
    for url in urls:
        for headers, status, code in [
            ({}, 401, "not_authenticated"),
            (bearer, 401, "not_authenticated"),  # customers' tokens open no staff stream
            (_session_cookie(people["customer"]), 403, "permission_denied"),
            (_session_cookie(people["roleless"]), 403, "permission_denied"),
        ]:
            response = httpx.get(url, headers=headers, timeout=10)
            assert response.status_code == status, (url, headers.keys())
            assert response.json()["error"]["code"] == code
        response = httpx.post(url, headers=_session_cookie(people["agent"]), timeout=10)
        assert response.status_code == 405
    unknown = "00000000-0000-0000-0000-000000000001"
    missing = f"{web_server.url}/admin/inbox/api/conversations/{unknown}/events/"
    assert (
        httpx.get(missing, headers=_session_cookie(people["agent"]), timeout=10).status_code == 404
    )


def test_a_handoff_reaches_the_agents_inbox_stream(
    web_server, people, django_capture_on_commit_callbacks
):
    reader = SSEReader(
        url=f"{web_server.url}/admin/inbox/api/events/",
        headers=_session_cookie(people["agent"]),
    ).start()
    try:
        assert reader.status == 200
        conversation = ConversationFactory(customer=people["customer"])
        with django_capture_on_commit_callbacks(execute=True):
            conversation_handoff_request(conversation=conversation, reason="customer_request")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            found = [e for e in reader.events if e.event == "inbox"]
            if found:
                break
            time.sleep(0.05)
        assert found, [e.event for e in reader.events]
        assert found[0].data["conversation_id"] == str(conversation.pk)
        assert found[0].data["handling"] == "waiting"
    finally:
        reader.stop.set()
