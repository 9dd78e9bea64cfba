"""The reply flow through real Celery worker processes, Redis and Postgres.

Worker settings (tests/conftest.py WORKER_SETTINGS): read timeout 3 s, lease 4 s, sweeper
every 1 s, lost pending replies re-dispatched after 3 s. With those, a killed worker's reply
must complete within lease + sweep interval + one reply, asserted below as 15 s.
"""

import time

import pytest

from accounts.models import ModelPreference
from chatbot.replies import lifecycle
from chatbot.replies.tasks import reply_generate
from chatbot.replies.turn import turn_start
from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory
from tests.stub_llm import Error, Reply

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

RECOVERY_BOUND_SECONDS = 15


def wait_for_reply(reply_id, *, statuses=("completed", "failed"), timeout=20) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = Message.objects.get(pk=reply_id)
        if reply.status in statuses:
            return reply
        time.sleep(0.05)
    raise AssertionError(f"reply {reply_id} still {reply.status} after {timeout}s")


def send(client, conversation, content):
    response = client.post(
        f"/api/v1/conversations/{conversation.id}/messages/", {"content": content}, format="json"
    )
    assert response.status_code == 202
    return response.json()


def test_a_turn_end_to_end(start_worker, llm_stub):
    start_worker()
    customer = UserFactory()
    ModelPreference.objects.create(
        user=customer,
        model="gpt-shop",
        temperature=0.1,
        max_tokens=123,
        persona="You work for Acme Shoes.",
        language="English",
    )
    conversation = ConversationFactory(customer=customer)
    client = client_for(customer)
    llm_stub.script(
        Reply(text="Your parcel ships tomorrow.", chunks=3, prompt_tokens=42, completion_tokens=6)
    )
    started = time.monotonic()
    body = send(client, conversation, "Where is my parcel?")
    reply = wait_for_reply(body["reply"]["id"])
    elapsed = time.monotonic() - started

    assert reply.status == "completed" and reply.content == "Your parcel ships tomorrow."
    assert (reply.model, reply.prompt_tokens, reply.completion_tokens) == ("gpt-shop", 42, 6)
    assert reply.latency_ms is not None and reply.latency_ms < elapsed * 1000
    request = llm_stub.requests[0]
    assert request.model == "gpt-shop"
    assert request.body["temperature"] == 0.1 and request.body["max_tokens"] == 123
    system = request.messages[0]
    assert system["role"] == "system" and "Acme Shoes" in system["content"]
    assert "English" in system["content"]
    assert request.messages[-1] == {"role": "user", "content": "Where is my parcel?"}

    # The second turn carries the history.
    body = send(client, conversation, "And the tracking number?")
    wait_for_reply(body["reply"]["id"])
    roles = [m["role"] for m in llm_stub.requests[1].messages]
    assert roles == ["system", "user", "assistant", "user"]
    listing = client.get(f"/api/v1/conversations/{conversation.id}/messages/").json()
    assert [m["status"] for m in listing["results"]] == ["completed"] * 4


def test_provider_failure_gives_a_polite_failed_reply(start_worker, llm_stub, settings):
    start_worker()
    customer = UserFactory()
    conversation = ConversationFactory(customer=customer)
    llm_stub.script(Error(status=500, message="upstream exploded"))
    body = send(client_for(customer), conversation, "Hello?")
    reply = wait_for_reply(body["reply"]["id"])
    assert reply.status == "failed" and reply.error_code == "provider_error"
    assert reply.content == settings.CHAT_FAILED_REPLY_TEXT
    assert "exploded" not in reply.content
    assert Message.objects.get(pk=body["message"]["id"]).content == "Hello?"


def test_duplicate_delivery_gives_exactly_one_reply(start_worker, llm_stub):
    start_worker("w1")
    start_worker("w2")  # two worker processes competing for the same tasks
    conversation = ConversationFactory()
    llm_stub.default = Reply(text="Only once.", ttft=0.3)
    result = turn_start(conversation=conversation, content="Hi")
    for _ in range(5):
        reply_generate.delay(str(result.reply.id))
    reply = wait_for_reply(result.reply.id)
    time.sleep(1.0)  # let every duplicate run to its end
    assert reply.content == "Only once."
    assert len(llm_stub.requests) == 1
    assert Message.objects.filter(conversation=conversation).count() == 2


def _slow_then_fast(llm_stub):
    # The first call is slow (killed mid-way); the recovery call answers at once.
    llm_stub.script(Reply(text="never delivered", ttft=2.5))
    llm_stub.default = Reply(text="Recovered answer.")


def test_pool_process_killed_mid_call_reply_completes_once(start_worker, llm_stub):
    worker = start_worker()
    _slow_then_fast(llm_stub)
    result = turn_start(conversation=ConversationFactory(), content="Hi")
    llm_stub.wait_for_requests(1, timeout=10)
    pids = worker.active_task_pids(task_name="chatbot.reply_generate", args=[str(result.reply.id)])
    assert len(pids) == 1
    killed_at = time.monotonic()
    worker.kill_pool_process(pids[0])

    reply = wait_for_reply(result.reply.id, timeout=RECOVERY_BOUND_SECONDS + 5)
    assert time.monotonic() - killed_at < RECOVERY_BOUND_SECONDS
    assert reply.status == "completed" and reply.content == "Recovered answer."
    assert reply.attempts == 2 and len(llm_stub.requests) == 2


def test_whole_worker_killed_mid_call_reply_completes_once_after_restart(start_worker, llm_stub):
    worker = start_worker("w1")
    _slow_then_fast(llm_stub)
    result = turn_start(conversation=ConversationFactory(), content="Hi")
    llm_stub.wait_for_requests(1, timeout=10)
    worker.kill_all()
    killed_at = time.monotonic()
    start_worker("w2")

    reply = wait_for_reply(result.reply.id, timeout=RECOVERY_BOUND_SECONDS + 5)
    assert time.monotonic() - killed_at < RECOVERY_BOUND_SECONDS
    assert reply.status == "completed" and reply.content == "Recovered answer."
    assert len(llm_stub.requests) == 2


def test_a_lost_task_is_redispatched_by_the_sweeper(start_worker, llm_stub, monkeypatch):
    monkeypatch.setattr(lifecycle, "reply_enqueue", lambda reply_id: None)  # broker "lost" it
    result = turn_start(conversation=ConversationFactory(), content="Hi")
    monkeypatch.undo()
    start_worker()
    reply = wait_for_reply(result.reply.id, timeout=RECOVERY_BOUND_SECONDS)
    assert reply.status == "completed" and len(llm_stub.requests) == 1
