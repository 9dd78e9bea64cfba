"""Side effects run only after the customer confirms, and once."""

import json

import pytest

from chatbot.tools.models import ToolCall
from conversations.models import Message
from tests.chatbot.moderation_helpers import published, turn
from tests.conftest import client_for
from tests.stub_llm import Reply, ToolCalls
from tests.stub_llm import ToolCall as Call

from .helpers import verified_conversation

pytestmark = pytest.mark.django_db


def ask_to_cancel(use_llm_stub, conversation, capture) -> Message:
    use_llm_stub.script(
        ToolCalls([Call("cancel_order", {"order_number": "1234"}, id="call_c")], text="Sure.")
    )
    return turn(conversation, "cancel order 1234", capture)


def test_an_unconfirmed_side_effect_never_runs(
    use_llm_stub, tool_stub, widget_key, cancel_tool, django_capture_on_commit_callbacks
):
    conversation = verified_conversation(widget_key)

    reply = ask_to_cancel(use_llm_stub, conversation, django_capture_on_commit_callbacks)

    assert reply.status == Message.Status.COMPLETED
    assert reply.content == "Sure.\n\nPlease confirm before I go ahead:\n- Cancel order 1234?"
    assert len(use_llm_stub.requests) == 1  # no further round: the customer decides
    assert tool_stub.calls("/cancel") == []
    row = ToolCall.objects.get()
    assert (row.status, row.label, row.read_only) == (
        "awaiting_confirmation",
        "Cancel order 1234?",
        False,
    )
    events = [d for e, d in published(conversation.id) if e == "tool_status"]
    assert events == [
        {
            "reply_id": str(reply.id),
            "tool": "cancel_order",
            "status": "needs_confirmation",
            "label": "Cancel order 1234?",
            "call_id": str(row.pk),
        }
    ]


def test_a_confirmed_side_effect_runs_exactly_once(
    use_llm_stub, tool_stub, widget_key, cancel_tool, django_capture_on_commit_callbacks
):
    conversation = verified_conversation(widget_key)
    ask_to_cancel(use_llm_stub, conversation, django_capture_on_commit_callbacks)
    row = ToolCall.objects.get()
    client = client_for(conversation.customer)
    url = f"/api/v1/conversations/{conversation.id}/tool-calls/{row.pk}/confirm/"
    use_llm_stub.script(Reply(text="Order 1234 is cancelled."))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "confirmed"
    reply = Message.objects.get(pk=response.json()["reply_id"])
    assert reply.content == "Order 1234 is cancelled."
    assert reply.reply_to.content == "Confirmed: Cancel order 1234?"
    (request,) = tool_stub.calls("/cancel")
    assert request.body == {"order_number": "1234"}
    assert request.headers["x-customer-id"] == "cust-42"
    assert request.headers["idempotency-key"] == str(row.pk)
    model_saw = use_llm_stub.requests[-1]
    assert model_saw.messages[-2]["tool_calls"][0]["id"] == "call_c"
    assert json.loads(model_saw.tool_results[0]["content"])["data"] == {"cancelled": "1234"}
    row.refresh_from_db()
    assert row.status == "succeeded" and row.arguments_encrypted == ""

    again = client.post(url)  # a double click, a retried request
    assert again.status_code == 409 and again.json()["error"]["code"] == "tool_call_already_decided"
    assert len(tool_stub.calls("/cancel")) == 1


def test_a_cancelled_side_effect_never_runs(
    use_llm_stub, tool_stub, widget_key, cancel_tool, django_capture_on_commit_callbacks
):
    conversation = verified_conversation(widget_key)
    ask_to_cancel(use_llm_stub, conversation, django_capture_on_commit_callbacks)
    row = ToolCall.objects.get()
    client = client_for(conversation.customer)
    base = f"/api/v1/conversations/{conversation.id}/tool-calls/{row.pk}"

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/cancel/").json()["status"] == "cancelled"
        assert client.post(f"{base}/confirm/").status_code == 409

    assert tool_stub.calls("/cancel") == []
    assert Message.objects.filter(conversation=conversation).count() == 2


def test_only_the_conversations_customer_can_confirm(
    use_llm_stub, tool_stub, widget_key, cancel_tool, django_capture_on_commit_callbacks
):
    conversation = verified_conversation(widget_key)
    ask_to_cancel(use_llm_stub, conversation, django_capture_on_commit_callbacks)
    row = ToolCall.objects.get()
    intruder = verified_conversation(widget_key, "cust-99")
    url = f"/api/v1/conversations/{conversation.id}/tool-calls/{row.pk}/confirm/"

    response = client_for(intruder.customer).post(url)
    elsewhere = client_for(intruder.customer).post(
        f"/api/v1/conversations/{intruder.id}/tool-calls/{row.pk}/confirm/"
    )

    assert response.status_code == 404 and response.json()["error"]["code"] == "tool_call_not_found"
    assert elsewhere.status_code == 404
    row.refresh_from_db()
    assert row.status == "awaiting_confirmation"


def test_the_same_call_in_a_redelivered_turn_is_not_asked_or_run_twice(
    use_llm_stub, tool_stub, widget_key, cancel_tool, django_capture_on_commit_callbacks
):
    """A turn that runs again (redelivered after a crash) meets its own ledger row."""
    from chatbot.replies import pipeline

    conversation = verified_conversation(widget_key)
    reply = ask_to_cancel(use_llm_stub, conversation, django_capture_on_commit_callbacks)
    row = ToolCall.objects.get()
    ToolCall.objects.filter(pk=row.pk).update(status=ToolCall.Status.SUCCEEDED)
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.PENDING)
    use_llm_stub.script(ToolCalls([Call("cancel_order", {"order_number": "1234"}, id="call_c")]))
    use_llm_stub.script(Reply(text="Already done."))

    pipeline.reply_generate(reply_id=reply.pk)

    assert tool_stub.calls("/cancel") == []
    assert ToolCall.objects.count() == 1
    assert Message.objects.get(pk=reply.pk).content == "Already done."
    result = json.loads(use_llm_stub.requests[-1].tool_results[0]["content"])
    assert "already handled" in result["data"]
