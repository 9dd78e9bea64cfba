"""Exactly once for side effects, with real Celery worker processes killed mid-loop.

Worker settings (tests/conftest.py WORKER_SETTINGS): lease 4 s, sweeper every 1 s. The
confirmed call's ledger row is claimed (confirmed → running) before the request leaves; a
redelivered turn finds it running or done and never sends it again.
"""

import json
import time

import pytest

from chatbot.platform import crypto
from chatbot.tools.models import Tool, ToolCall
from conversations.models import Message
from tests.chatbot.replies.test_worker import RECOVERY_BOUND_SECONDS, wait_for_reply
from tests.conftest import client_for
from tests.stub_llm import Reply

from .helpers import http_tool, verified_conversation

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def awaiting_cancel(tool_stub, widget_key, *, delay: float):
    tool_stub.route("/cancel", body={"cancelled": "1234"}, delay=delay)
    tool = http_tool(
        widget_key,
        tool_stub.url("/cancel"),
        name="cancel_order",
        effect=Tool.Effect.SIDE_EFFECTS,
        timeout_seconds=3.5,
    )
    conversation = verified_conversation(widget_key)
    asked = Message.objects.create(conversation=conversation, role="user", content="cancel 1234")
    reply = Message.objects.create(
        conversation=conversation, role="assistant", content="Please confirm", reply_to=asked
    )
    row = ToolCall.objects.create(
        conversation=conversation,
        reply=reply,
        tool=tool,
        tool_name=tool.name,
        call_id="call_kill",
        read_only=False,
        arguments_masked={"order_number": "1234"},
        arguments_encrypted=crypto.encrypt(json.dumps({"order_number": "1234"})),
        label="Cancel order 1234?",
        status=ToolCall.Status.AWAITING_CONFIRMATION,
    )
    return conversation, row


def confirm(conversation, row) -> str:
    response = client_for(conversation.customer).post(
        f"/api/v1/conversations/{conversation.id}/tool-calls/{row.pk}/confirm/"
    )
    assert response.status_code == 200, response.content
    return response.json()["reply_id"]


def kill_the_turn(worker, reply_id) -> None:
    pids = worker.active_task_pids(task_name="chatbot.reply_generate", args=[reply_id])
    assert len(pids) == 1
    worker.kill_pool_process(pids[0])


def test_killed_while_the_side_effect_runs_it_is_never_sent_again(
    start_worker, llm_stub, tool_stub, widget_key
):
    worker = start_worker()
    conversation, row = awaiting_cancel(tool_stub, widget_key, delay=2.0)
    llm_stub.default = Reply(text="I could not confirm it; a person will check.")

    reply_id = confirm(conversation, row)
    tool_stub.wait_for("/cancel", timeout=10)
    kill_the_turn(worker, reply_id)
    killed_at = time.monotonic()

    reply = wait_for_reply(reply_id, timeout=RECOVERY_BOUND_SECONDS + 5)
    assert time.monotonic() - killed_at < RECOVERY_BOUND_SECONDS
    time.sleep(2.5)  # anything still in flight would have arrived by now
    assert reply.status == "completed" and reply.attempts == 2
    assert len(tool_stub.calls("/cancel")) == 1
    row.refresh_from_db()
    assert row.status == ToolCall.Status.INTERRUPTED
    told = json.loads(llm_stub.requests[-1].tool_results[0]["content"])
    assert told["status"] == "unknown" and "Do not try it again" in told["error"]


def test_killed_after_the_side_effect_ran_it_is_reported_not_repeated(
    start_worker, llm_stub, tool_stub, widget_key
):
    worker = start_worker()
    conversation, row = awaiting_cancel(tool_stub, widget_key, delay=0)
    llm_stub.script(Reply(text="never delivered", ttft=3.0))  # killed during this call
    llm_stub.default = Reply(text="Order 1234 is cancelled.")

    reply_id = confirm(conversation, row)
    llm_stub.wait_for_requests(1, timeout=10)
    kill_the_turn(worker, reply_id)

    reply = wait_for_reply(reply_id, timeout=RECOVERY_BOUND_SECONDS + 5)
    assert reply.status == "completed" and reply.content == "Order 1234 is cancelled."
    assert len(tool_stub.calls("/cancel")) == 1
    row.refresh_from_db()
    assert row.status == ToolCall.Status.SUCCEEDED
    told = json.loads(llm_stub.requests[-1].tool_results[0]["content"])
    assert told["status"] == "ok" and told["data"] == "The action was completed."
