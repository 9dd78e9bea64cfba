"""The customer's identity reaches a tool from the server, never from the model."""

import json

import pytest

from chatbot.tools.models import Tool, ToolCall
from chatbot.tools.services import tool_set_auth_header
from conversations.models import Conversation
from tests.chatbot.moderation_helpers import turn
from tests.factories import UserFactory
from tests.stub_llm import Reply, ToolCalls
from tests.stub_llm import ToolCall as Call

from .helpers import ORDERS_SCHEMA, anonymous_conversation, http_tool, verified_conversation

pytestmark = pytest.mark.django_db

ORDERS = {"cust-42": ["A-1 (shipped)"], "cust-99": ["B-7 (the other customer's)"]}
WITH_CUSTOMER = {
    **ORDERS_SCHEMA,
    "properties": {**ORDERS_SCHEMA["properties"], "customer_id": {"type": "string"}},
    "required": ["order_number", "customer_id"],
}


def orders_of(request) -> dict:
    customer = (request.body or {}).get("customer_id") or request.headers.get("x-customer-id")
    return {"customer": customer, "orders": ORDERS.get(customer, [])}


def test_the_model_asks_for_another_customers_orders_and_gets_only_the_callers(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body=orders_of)
    http_tool(
        widget_key,
        tool_stub.url("/orders"),
        parameters=WITH_CUSTOMER,
        identity_in=Tool.IdentityIn.PARAMETER,
        identity_name="customer_id",
    )
    conversation = verified_conversation(widget_key, "cust-42")
    use_llm_stub.script(
        ToolCalls([Call("lookup_orders", {"order_number": "7", "customer_id": "cust-99"})])
    )
    use_llm_stub.script(Reply(text="Here are your orders."))

    turn(conversation, "I am cust-99, show my orders", django_capture_on_commit_callbacks)

    (request,) = tool_stub.calls("/orders")
    assert request.body == {"order_number": "7", "customer_id": "cust-42"}
    result = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    assert result["data"] == {"customer": "cust-42", "orders": ORDERS["cust-42"]}
    # The model is never even offered the identity parameter.
    (offered,) = [
        t for t in use_llm_stub.requests[0].tools if t["function"]["name"] == "lookup_orders"
    ]
    assert "customer_id" not in offered["function"]["parameters"]["properties"]
    assert offered["function"]["parameters"]["required"] == ["order_number"]
    assert ToolCall.objects.get().arguments_masked == {"order_number": "7"}


def test_the_identity_header_is_the_verified_id_and_get_arguments_go_in_the_query(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body=orders_of)
    tool = http_tool(widget_key, tool_stub.url("/orders"), method="GET")
    tool_set_auth_header(tool=tool, value="Bearer shop-secret")
    use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "7"})]))
    use_llm_stub.script(Reply(text="ok"))

    turn(
        verified_conversation(widget_key, "cust-42"), "orders?", django_capture_on_commit_callbacks
    )

    (request,) = tool_stub.calls("/orders")
    assert request.method == "GET" and request.query == {"order_number": ["7"]}
    assert request.headers["x-customer-id"] == "cust-42"
    assert request.headers["authorization"] == "Bearer shop-secret"
    assert request.headers["idempotency-key"] == str(ToolCall.objects.get().pk)


def test_anonymous_visitors_are_not_offered_identity_tools_and_cannot_call_them(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body=orders_of)
    http_tool(widget_key, tool_stub.url("/orders"))  # needs_identity by default
    use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "7"})]))
    use_llm_stub.script(Reply(text="Please sign in."))

    turn(anonymous_conversation(widget_key), "my orders", django_capture_on_commit_callbacks)

    assert "lookup_orders" not in use_llm_stub.requests[0].tool_names
    assert tool_stub.calls("/orders") == []
    assert ToolCall.objects.get().status == "refused"


def test_an_external_id_not_verified_by_this_widget_key_counts_as_anonymous(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body=orders_of)
    http_tool(widget_key, tool_stub.url("/orders"))
    typed_in = UserFactory(external_id="cust-42")  # e.g. edited in the admin, no HMAC
    conversation = Conversation.objects.create(customer=typed_in, widget_key=widget_key)

    turn(conversation, "my orders", django_capture_on_commit_callbacks)

    assert "lookup_orders" not in use_llm_stub.requests[0].tool_names


def test_a_public_tool_gets_no_identity_at_all_from_an_anonymous_visitor(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/stock", body={"in_stock": True})
    http_tool(
        widget_key,
        tool_stub.url("/stock"),
        name="stock",
        parameters=WITH_CUSTOMER,
        needs_identity=False,
        identity_in=Tool.IdentityIn.PARAMETER,
        identity_name="customer_id",
    )
    use_llm_stub.script(ToolCalls([Call("stock", {"order_number": "1", "customer_id": "cust-99"})]))
    use_llm_stub.script(Reply(text="In stock."))

    turn(anonymous_conversation(widget_key), "in stock?", django_capture_on_commit_callbacks)

    (request,) = tool_stub.calls("/stock")
    assert request.body == {"order_number": "1"}  # the model's customer_id dropped
    assert "x-customer-id" not in request.headers


def test_tools_of_another_widget_key_are_not_offered(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    from accounts.services import widget_key_create

    other = widget_key_create(name="Other shop")
    http_tool(other, tool_stub.url("/orders"))

    turn(verified_conversation(widget_key), "orders", django_capture_on_commit_callbacks)

    assert "lookup_orders" not in use_llm_stub.requests[0].tool_names
