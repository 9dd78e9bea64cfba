"""The handoff across processes: two uvicorn web processes, a real Celery worker (with
beat), Redis Streams, Postgres and the stub LLM. Staff act through the services from this
test process, a third process, as the inbox's views do."""

import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from accounts.services import api_token_create
from conversations import services
from conversations.models import Conversation
from tests.conversations.test_sse import SSEReader
from tests.factories import ConversationFactory, StaffFactory, UserFactory
from tests.servers import AsgiServer

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def mail_dir(tmp_path) -> Path:
    path = tmp_path / "mail"
    path.mkdir()
    return path


@pytest.fixture
def web(start_worker, worker_env, artifacts_dir, mail_dir):
    """Two web processes and one worker, sharing a short pickup timeout and a file mailbox."""
    if not settings.EVENT_BUS_URL:
        pytest.fail("these tests need Redis: EVENT_BUS_URL is empty")
    worker_env.update(
        {
            "HANDOFF_PICKUP_TIMEOUT_SECONDS": "1",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(mail_dir),
        }
    )
    start_worker()
    env = {
        **worker_env,
        "SSE_HEARTBEAT_SECONDS": "0.5",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    servers = [AsgiServer(env, artifacts_dir).start(), AsgiServer(env, artifacts_dir).start()]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture
def customer():
    user = UserFactory()
    conversation = ConversationFactory(customer=user)
    return conversation, {"Authorization": f"Bearer {api_token_create(user=user)}"}


def stream(server, conversation, headers) -> SSEReader:
    url = f"{server.url}/api/v1/conversations/{conversation.pk}/events/"
    return SSEReader(url=url, headers=headers).start()


def test_staff_reply_reaches_the_customer_across_processes_and_the_bot_stays_quiet(
    web, customer, llm_stub
):
    a, b = web
    conversation, headers = customer
    reader = stream(a, conversation, headers)
    try:
        # The customer asks for a person through web process B; the stream is on A.
        response = httpx.post(
            f"{b.url}/api/v1/conversations/{conversation.pk}/handoff/", headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["handling"] == "waiting"
        reader.wait_for(lambda e: e.event == "handoff" and e.data["state"] == "waiting")

        # A message while waiting: stored, shown live, no bot reply.
        sent = httpx.post(
            f"{b.url}/api/v1/conversations/{conversation.pk}/messages/",
            json={"content": "Are you there?"},
            headers=headers,
        )
        assert sent.status_code == 202 and sent.json()["reply"] is None
        reader.wait_for(lambda e: e.event == "message" and e.data["content"] == "Are you there?")

        agent = StaffFactory(first_name="Alex")
        services.conversation_take_over(conversation=conversation, agent=agent)
        reader.wait_for(lambda e: e.event == "agent_joined" and e.data["agent_name"] == "Alex")
        sent_at = time.monotonic()
        message = services.staff_message_send(
            conversation=conversation, author=agent, content="Hello, Alex here."
        )
        event = reader.wait_for(lambda e: e.event == "message" and e.data["id"] == str(message.pk))
        assert (event.data["role"], event.data["author_name"]) == ("staff", "Alex")
        assert event.at - sent_at < 2  # live, not polled
        assert llm_stub.requests == []
    finally:
        reader.stop.set()


def test_nobody_picks_up_then_followup_then_the_answer_is_emailed(
    web, customer, llm_stub, mail_dir
):
    a, b = web
    conversation, headers = customer
    reader = stream(a, conversation, headers)
    try:
        response = httpx.post(
            f"{b.url}/api/v1/conversations/{conversation.pk}/handoff/", headers=headers
        )
        assert response.json()["handling"] == "waiting"
        # The worker's countdown task (HANDOFF_PICKUP_TIMEOUT_SECONDS=1) moves it on.
        event = reader.wait_for(
            lambda e: e.event == "handoff" and e.data["state"] == "followup", timeout=20
        )
        assert event.data == {"state": "followup", "reason": "timeout", "email_requested": True}
        conversation.refresh_from_db()
        assert conversation.handling == Conversation.Handling.FOLLOWUP
        assert [e.kind for e in conversation.events.all()] == [
            "handoff_requested",
            "pickup_timeout",
        ]

        bad = httpx.post(
            f"{a.url}/api/v1/conversations/{conversation.pk}/followup-email/",
            json={"email": "not-an-address"},
            headers=headers,
        )
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
        ok = httpx.post(
            f"{a.url}/api/v1/conversations/{conversation.pk}/followup-email/",
            json={"email": "me@shop.example"},
            headers=headers,
        )
        assert ok.status_code == 200, ok.text

        agent = StaffFactory(first_name="Mei")
        services.staff_message_send(
            conversation=conversation, author=agent, content="Your refund is on its way."
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not list(mail_dir.iterdir()):
            time.sleep(0.1)
        [mail_file] = list(mail_dir.iterdir())
        text = mail_file.read_text()
        assert "To: me@shop.example" in text
        assert "Your refund is on its way." in text and "Mei" in text
        # On the next visit the answer is in the history.
        history = httpx.get(
            f"{b.url}/api/v1/conversations/{conversation.pk}/messages/", headers=headers
        ).json()["results"]
        assert [(m["role"], m["author_name"]) for m in history] == [("staff", "Mei")]
        assert llm_stub.requests == []
    finally:
        reader.stop.set()
