"""The SSE endpoint over a real ASGI server, a real worker, Redis Streams and the stub."""

import json
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from accounts.services import api_token_create
from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.stub_llm import CutStream, Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@dataclass
class SSEEvent:
    id: str | None
    event: str | None
    data: dict | None
    at: float
    comment: str | None = None


@dataclass
class SSEReader:
    """Reads an SSE stream in a thread, recording each event and when it arrived."""

    url: str
    headers: dict
    events: list[SSEEvent] = field(default_factory=list)
    status: int | None = None
    opened: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> "SSEReader":
        threading.Thread(target=self._run, daemon=True).start()
        assert self.opened.wait(10), "stream did not open"
        return self

    def _run(self):
        with httpx.stream("GET", self.url, headers=self.headers, timeout=30) as response:
            self.status = response.status_code
            self.opened.set()
            fields: dict = {}
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if line.startswith(":"):
                    self.events.append(SSEEvent(None, None, None, time.monotonic(), line[1:]))
                elif line == "":
                    if "data" in fields:
                        self.events.append(
                            SSEEvent(
                                fields.get("id"),
                                fields.get("event"),
                                json.loads(fields["data"]),
                                time.monotonic(),
                            )
                        )
                    fields = {}
                else:
                    key, _, value = line.partition(":")
                    fields[key] = value.lstrip(" ")

    def named(self, name):
        return [e for e in self.events if e.event == name]

    def wait_for(self, predicate, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events if e.event and predicate(e)]
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no such event; got {[e.event for e in self.events]}")


def _final(reply_id):
    return lambda e: (
        e.event == "message"
        and e.data["id"] == reply_id
        and e.data["status"] in ("completed", "failed")
    )


@pytest.fixture
def owner():
    user = UserFactory()
    return user, {"Authorization": f"Bearer {api_token_create(user=user)}"}


def _send(server, headers, conversation, content="Tell me a story"):
    response = httpx.post(
        f"{server.url}/api/v1/conversations/{conversation.id}/messages/",
        json={"content": content},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.json()


def test_deltas_stream_before_the_reply_completes(asgi_server, llm_stub, owner):
    user, headers = owner
    conversation = ConversationFactory(customer=user)
    # Long enough to pass the moderation hold-back (MODERATION_STREAM_HOLDBACK_CHARS).
    story = (
        "Once upon a time there was a parcel. It travelled far across the sea, "
        "through storms and calm, and arrived at your door on a sunny Tuesday morning."
    )
    llm_stub.script(Reply(text=story, chunks=8, chunk_delay=0.25))
    url = f"{asgi_server.url}/api/v1/conversations/{conversation.id}/events/"
    reader = SSEReader(url, headers).start()
    assert reader.status == 200
    reply_id = _send(asgi_server, headers, conversation)["reply"]["id"]

    first_delta = reader.wait_for(lambda e: e.event == "delta")
    # While deltas flow, nothing is written per delta: the row has no text yet.
    assert Message.objects.get(pk=reply_id).content == ""
    final = reader.wait_for(_final(reply_id))
    reader.stop.set()

    deltas = [e for e in reader.named("delta") if e.data["reply_id"] == reply_id]
    assert len(deltas) >= 4
    assert final.at - first_delta.at > 0.75  # the first bytes came well before the end
    assert "".join(e.data["text"] for e in deltas) == final.data["content"]
    assert final.data["status"] == "completed"
    user_messages = [e for e in reader.named("message") if e.data["role"] == "user"]
    assert user_messages and user_messages[0].data["content"] == "Tell me a story"
    ids = [e.id for e in reader.events if e.id]
    assert len(ids) == len(set(ids))


def test_reconnect_with_last_event_id_resumes_without_loss_or_repeat(asgi_server, llm_stub, owner):
    user, headers = owner
    conversation = ConversationFactory(customer=user)
    text = (
        "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi "
        "omicron pi rho sigma tau upsilon phi chi psi omega"
    )
    llm_stub.script(Reply(text=text, chunks=8, chunk_delay=0.05))
    url = f"{asgi_server.url}/api/v1/conversations/{conversation.id}/events/"
    first = SSEReader(url, headers).start()
    reply_id = _send(asgi_server, headers, conversation)["reply"]["id"]
    first.wait_for(_final(reply_id))
    first.stop.set()
    deltas = [e for e in first.named("delta") if e.data["reply_id"] == reply_id]
    assert len(deltas) >= 3, [(e.event, e.data) for e in first.events]

    # Pretend the connection dropped after the second delta.
    resumed = SSEReader(url, {**headers, "Last-Event-ID": deltas[1].id}).start()
    resumed.wait_for(_final(reply_id))
    resumed.stop.set()
    rest = [e for e in resumed.named("delta") if e.data["reply_id"] == reply_id]
    assert [e.id for e in rest] == [e.id for e in deltas[2:]]
    assert "".join(e.data["text"] for e in deltas[:2] + rest) == text


def test_a_stream_cut_upstream_ends_the_reply_failed_with_a_terminal_event(
    asgi_server, llm_stub, owner
):
    user, headers = owner
    conversation = ConversationFactory(customer=user)
    llm_stub.default = CutStream(text="This answer will be cut off midway", after_chunks=2)
    url = f"{asgi_server.url}/api/v1/conversations/{conversation.id}/events/"
    reader = SSEReader(url, headers).start()
    reply_id = _send(asgi_server, headers, conversation)["reply"]["id"]
    final = reader.wait_for(_final(reply_id), timeout=30)
    reader.stop.set()
    assert final.data["status"] == "failed"
    assert final.data["error_code"] == "stream_interrupted"
    error = reader.wait_for(lambda e: e.event == "error")
    assert error.data["reply_id"] == reply_id and error.data["code"] == "stream_interrupted"
    assert Message.objects.get(pk=reply_id).status == "failed"


def test_heartbeats_keep_an_idle_stream_alive(asgi_server, owner):
    user, headers = owner
    conversation = ConversationFactory(customer=user)
    url = f"{asgi_server.url}/api/v1/conversations/{conversation.id}/events/"
    reader = SSEReader(url, headers).start()
    time.sleep(2.2)
    reader.stop.set()
    assert len([e for e in reader.events if e.comment == " ping"]) >= 2


def test_only_the_owner_may_subscribe(asgi_server, owner):
    user, headers = owner
    conversation = ConversationFactory(customer=user)
    url = f"{asgi_server.url}/api/v1/conversations/{conversation.id}/events/"
    other = {"Authorization": f"Bearer {api_token_create(user=UserFactory())}"}
    cases = [
        (other, 404, "not_found"),
        ({}, 401, "not_authenticated"),
        ({"Authorization": "Bearer cdt_wrong"}, 401, "authentication_failed"),
        ({**headers, "Last-Event-ID": "not-an-id"}, 400, "validation_error"),
    ]
    for case_headers, status, code in cases:
        response = httpx.get(url, headers=case_headers, timeout=5)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
    missing = f"{asgi_server.url}/api/v1/conversations/{ConversationFactory().id}/events/"
    assert httpx.get(missing, headers=headers, timeout=5).status_code == 404
    assert httpx.post(url, headers=headers, timeout=5).status_code == 405
