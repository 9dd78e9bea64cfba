"""`GET /conversations/{id}/tool-calls/?status=awaiting_confirmation`: the questions a
reloaded widget puts back (Confirm / Cancel), only the customer's own, only undecided."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from chatbot.tools.models import ToolCall
from conversations.models import Conversation, Message
from tests.chatbot.moderation_helpers import turn
from tests.conftest import client_for
from tests.stub_llm import Reply, ToolCalls
from tests.stub_llm import ToolCall as Call

from .helpers import verified_conversation

pytestmark = pytest.mark.django_db


@pytest.fixture
def ask(use_llm_stub, cancel_tool, django_capture_on_commit_callbacks):
    """The customer asks to cancel an order; the reply ends with the question."""

    def ask(conversation, order_number="1234") -> Message:
        use_llm_stub.script(
            ToolCalls([Call("cancel_order", {"order_number": order_number}, id=f"c{order_number}")])
        )
        return turn(
            conversation, f"cancel order {order_number}", django_capture_on_commit_callbacks
        )

    return ask


def awaiting(conversation: Conversation, customer=None):
    client = client_for(customer or conversation.customer)
    return client.get(
        f"/api/v1/conversations/{conversation.id}/tool-calls/?status=awaiting_confirmation"
    )


def test_a_question_the_customer_has_not_answered_is_listed_with_its_reply(widget_key, ask):
    conversation = verified_conversation(widget_key)
    reply = ask(conversation)
    row = ToolCall.objects.get()

    response = awaiting(conversation)

    assert response.status_code == 200, response.content
    assert response.json() == {
        "results": [
            {
                "id": str(row.pk),
                "tool": "cancel_order",
                "label": "Cancel order 1234?",
                "status": "awaiting_confirmation",
                "reply_id": str(reply.pk),
            }
        ]
    }
    # Without the filter the same list (the only status a customer can list today).
    bare = client_for(conversation.customer).get(
        f"/api/v1/conversations/{conversation.id}/tool-calls/"
    )
    assert bare.json() == response.json()


def test_decided_questions_are_not_listed(
    use_llm_stub, widget_key, ask, django_capture_on_commit_callbacks
):
    conversation = verified_conversation(widget_key)
    ask(conversation, "1")
    ask(conversation, "2")
    ask(conversation, "3")
    first, second, third = ToolCall.objects.order_by("created_at")
    client = client_for(conversation.customer)
    base = f"/api/v1/conversations/{conversation.id}/tool-calls"
    use_llm_stub.script(Reply(text="Order 1 is cancelled."))
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{base}/{first.pk}/confirm/").status_code == 200
        assert client.post(f"{base}/{second.pk}/cancel/").status_code == 200

    listed = awaiting(conversation).json()["results"]

    assert [r["id"] for r in listed] == [str(third.pk)]
    first.refresh_from_db()
    assert first.status == "succeeded"  # it ran, and is gone from the list


def test_a_question_whose_reply_did_not_complete_or_whose_conversation_closed_is_not_listed(
    widget_key, ask
):
    conversation = verified_conversation(widget_key)
    reply = ask(conversation)
    # The reply that asked failed afterwards (e.g. its text was blocked): nobody saw the question.
    Message.objects.filter(pk=reply.pk).update(status=Message.Status.FAILED)
    assert awaiting(conversation).json() == {"results": []}

    Message.objects.filter(pk=reply.pk).update(status=Message.Status.COMPLETED)
    assert len(awaiting(conversation).json()["results"]) == 1
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    assert awaiting(conversation).json() == {"results": []}


def test_another_customers_questions_are_a_404_and_never_leak(widget_key, ask):
    conversation = verified_conversation(widget_key)
    ask(conversation)
    intruder = verified_conversation(widget_key, "cust-99")

    response = awaiting(conversation, customer=intruder.customer)
    own = awaiting(intruder)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "Cancel order" not in response.content.decode()
    assert own.json() == {"results": []}  # their own conversation shows nothing of the other
    anonymous = APIClient().get(f"/api/v1/conversations/{conversation.id}/tool-calls/")
    assert anonymous.status_code == 401


def test_only_awaiting_confirmation_can_be_asked_for(widget_key):
    conversation = verified_conversation(widget_key)
    client = client_for(conversation.customer)
    url = f"/api/v1/conversations/{conversation.id}/tool-calls/"

    for status in ("succeeded", "", "awaiting_confirmation'--"):
        response = client.get(url, {"status": status})
        assert response.status_code == 400, status
        assert response.json()["error"]["code"] == "validation_error"


def test_the_list_costs_the_same_queries_however_many_questions_wait(widget_key, ask):
    conversation = verified_conversation(widget_key)
    ask(conversation, "1")
    client = client_for(conversation.customer)
    url = f"/api/v1/conversations/{conversation.id}/tool-calls/"
    client.get(url)  # the token's first use records when it was used (one write, once)
    with CaptureQueriesContext(connection) as one:
        assert len(client.get(url).json()["results"]) == 1
    ask(conversation, "2")
    ask(conversation, "3")
    with CaptureQueriesContext(connection) as three:
        assert len(client.get(url).json()["results"]) == 3
    # The token, the conversation (scoped to the customer), the calls: no query per call.
    assert len(three.captured_queries) == len(one.captured_queries) == 3
