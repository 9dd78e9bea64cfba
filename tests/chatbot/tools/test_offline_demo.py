# ruff: noqa: RUF001 - Chinese text with Chinese (full-width) punctuation
"""The demo shows a tool call with no LLM: the offline responder recognises an order
number and calls the demo shop's order_status tool, then answers from its result."""

import pytest

from chatbot.llm import ChatMessage, ChatRequest, OfflineResponder, ToolSpec
from chatbot.llm.offline import order_number_in
from chatbot.tools.models import ToolCall
from tests.chatbot.moderation_helpers import published, turn
from tests.factories import ConversationFactory

ORDER_TOOL = ToolSpec("order_status", "Where an order is", {"type": "object"})


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("Where is my order 1234?", "1234"),
        ("order #98765 please", "98765"),
        ("status of #4321", "4321"),
        ("我的订单 5566 到哪了？", "5566"),
        ("Order number: 777", "777"),
        ("I ordered 3 shirts", None),
        ("call me at 5551234", None),
    ],
)
def test_order_numbers_are_recognised_deterministically(text, number):
    assert order_number_in(text) == number


def test_it_calls_the_tool_only_when_the_tool_is_offered():
    responder = OfflineResponder()
    asked = [ChatMessage("user", "Where is order 1234?")]

    called = responder.stream(ChatRequest("m", asked, tools=(ORDER_TOOL,)), lambda _d: None)
    plain = responder.stream(ChatRequest("m", asked), lambda _d: None)

    assert called.finish_reason == "tool_calls" and called.text == ""
    assert called.tool_calls[0].name == "order_status"
    assert called.tool_calls[0].arguments == '{"order_number": "1234"}'
    assert plain.tool_calls == () and "offline demo responder" in plain.text


@pytest.mark.django_db
def test_the_demo_order_flow_runs_end_to_end_without_an_llm(
    settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    settings.TOOLS_BUILTINS = ["order_status"]
    conversation = ConversationFactory()

    reply = turn(conversation, "Where is my order 1234?", django_capture_on_commit_callbacks)
    again = turn(conversation, "And order 1234 again?", django_capture_on_commit_callbacks)

    assert reply.model == "offline-responder" and reply.status == "completed"
    assert reply.content.startswith("Order 1234 ")
    assert "made-up data from the demo shop" in reply.content
    assert again.content.split("\n")[0] == reply.content.split("\n")[0]  # deterministic
    row = ToolCall.objects.filter(reply=reply).get()
    assert (row.tool_name, row.status, row.arguments_masked) == (
        "order_status",
        "succeeded",
        {"order_number": "1234"},
    )
    labels = [d["label"] for e, d in published(conversation.id) if e == "tool_status"]
    assert labels[:2] == ["Looking up your order…", "Looking up your order…"]


@pytest.mark.django_db
def test_the_demo_answers_in_chinese_too(settings, django_capture_on_commit_callbacks):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    settings.TOOLS_BUILTINS = ["order_status"]

    reply = turn(
        ConversationFactory(), "我的订单 1234 到哪了？", django_capture_on_commit_callbacks
    )

    assert reply.content.startswith("订单 1234")
