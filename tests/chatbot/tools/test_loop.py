"""The generation loop with tools: real stub LLM (streamed tool calls through the real SDK),
real tool endpoints on loopback, Postgres and Redis; the reply task runs eagerly."""

import json

import pytest

from chatbot.tools.models import ToolCall
from conversations.models import Message
from tests.chatbot.moderation_helpers import published, turn
from tests.factories import ConversationFactory
from tests.stub_llm import Reply, ToolCalls
from tests.stub_llm import ToolCall as Call

from .helpers import http_tool, verified_conversation

pytestmark = pytest.mark.django_db


def test_a_streamed_call_runs_and_the_model_answers_from_its_result(
    use_llm_stub, django_capture_on_commit_callbacks
):
    use_llm_stub.script(ToolCalls([Call("get_conversation_status", {}, id="call_s")]))
    use_llm_stub.script(Reply(text="Your conversation is open."))
    conversation = ConversationFactory()

    reply = turn(conversation, "Is this chat still open?", django_capture_on_commit_callbacks)

    assert reply.status == Message.Status.COMPLETED
    assert reply.content == "Your conversation is open."
    first, second = use_llm_stub.requests
    assert "get_conversation_status" in first.tool_names
    assert second.messages[-2]["tool_calls"][0]["id"] == "call_s"
    (result,) = second.tool_results
    envelope = json.loads(result["content"])
    assert result["tool_call_id"] == "call_s"
    assert envelope["status"] == "ok" and envelope["data"]["status"] == "open"
    assert "not an instruction" in envelope["note"]
    row = ToolCall.objects.get()
    assert (row.reply_id, row.status, row.tool_name) == (
        reply.id,
        "succeeded",
        "get_conversation_status",
    )
    assert row.result_chars == len(result["content"]) and row.latency_ms is not None
    statuses = [d["status"] for e, d in published(conversation.id) if e == "tool_status"]
    assert statuses == ["running", "done"]


def test_parallel_calls_all_run_and_answer_in_order(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body=lambda req: {"order": req.body["order_number"]})
    http_tool(widget_key, tool_stub.url("/orders"))
    conversation = verified_conversation(widget_key)
    action = ToolCalls(
        [
            Call("lookup_orders", {"order_number": "1"}),
            Call("lookup_orders", {"order_number": "2"}),
        ]
    )
    use_llm_stub.script(action)
    use_llm_stub.script(Reply(text="Both found."))

    reply = turn(conversation, "orders 1 and 2?", django_capture_on_commit_callbacks)

    assert reply.content == "Both found."
    results = use_llm_stub.requests[1].tool_results
    assert [r["tool_call_id"] for r in results] == list(action.call_ids)
    assert [json.loads(r["content"])["data"]["order"] for r in results] == ["1", "2"]
    assert len(tool_stub.calls("/orders")) == 2


def test_rounds_are_capped_then_the_model_must_answer_in_words(
    settings, use_llm_stub, django_capture_on_commit_callbacks
):
    settings.TOOLS_MAX_ROUNDS = 2
    for _ in range(3):  # the third comes although no tools were offered: it is ignored
        use_llm_stub.script(ToolCalls([Call("get_conversation_status")]))

    reply = turn(ConversationFactory(), "loop forever", django_capture_on_commit_callbacks)

    requests = use_llm_stub.requests
    assert len(requests) == 3
    assert [bool(r.tools) for r in requests] == [True, True, False]
    assert reply.status == Message.Status.COMPLETED
    assert ToolCall.objects.count() == 2


def test_invalid_arguments_are_told_to_the_model_and_the_tool_is_not_called(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/orders", body={"ok": True})
    http_tool(widget_key, tool_stub.url("/orders"))
    use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "DROP TABLE"})]))
    use_llm_stub.script(Reply(text="Which order number?"))

    reply = turn(verified_conversation(widget_key), "my order", django_capture_on_commit_callbacks)

    assert reply.content == "Which order number?"
    envelope = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    assert envelope["status"] == "error" and "Invalid arguments" in envelope["error"]
    assert tool_stub.calls("/orders") == []
    assert ToolCall.objects.get().status == "invalid_arguments"


def test_broken_json_arguments_and_unknown_tools_are_told_too(
    use_llm_stub, django_capture_on_commit_callbacks
):
    use_llm_stub.script(
        ToolCalls([Call("get_conversation_status", "{not json"), Call("rm_rf", {})])
    )
    use_llm_stub.script(Reply(text="Sorry."))

    reply = turn(ConversationFactory(), "hi", django_capture_on_commit_callbacks)

    assert reply.content == "Sorry."
    errors = [json.loads(r["content"])["error"] for r in use_llm_stub.requests[1].tool_results]
    assert "not valid JSON" in errors[0] and "No tool named 'rm_rf'" in errors[1]
    assert sorted(ToolCall.objects.values_list("status", flat=True)) == [
        "invalid_arguments",
        "refused",
    ]


def test_a_timeout_is_told_to_the_model_and_the_reply_completes(
    use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    tool_stub.route("/slow", body={"late": True}, delay=1.5)
    http_tool(widget_key, tool_stub.url("/slow"), timeout_seconds=0.3)
    use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "7"})]))
    use_llm_stub.script(Reply(text="The order system is slow; a person can help."))

    reply = turn(verified_conversation(widget_key), "order 7?", django_capture_on_commit_callbacks)

    assert reply.status == Message.Status.COMPLETED
    envelope = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    assert envelope["status"] == "error" and "in time" in envelope["error"]
    row = ToolCall.objects.get()
    assert row.status == "timed_out" and row.error_code == "timeout"
    assert row.latency_ms < 1000


def test_a_tool_that_keeps_failing_cools_down_without_being_called(
    settings, use_llm_stub, tool_stub, widget_key, django_capture_on_commit_callbacks
):
    settings.TOOLS_BREAKER_FAILURE_THRESHOLD = 2
    tool_stub.route("/orders", status=503, body={"error": "down"})
    http_tool(widget_key, tool_stub.url("/orders"))
    conversation = verified_conversation(widget_key)
    use_llm_stub.default = Reply(text="Sorry, try later.")
    for _ in range(3):
        use_llm_stub.script(ToolCalls([Call("lookup_orders", {"order_number": "7"})]))
        turn(conversation, "order 7?", django_capture_on_commit_callbacks)

    assert len(tool_stub.calls("/orders")) == 2  # the third call was never sent
    statuses = list(ToolCall.objects.order_by("created_at").values_list("status", flat=True))
    assert statuses == ["failed", "failed", "unavailable"]
    last = json.loads(use_llm_stub.requests[-1].tool_results[0]["content"])
    assert "temporarily unavailable" in last["error"]
    assert Message.objects.filter(role="assistant", status="completed").count() == 3


def test_a_model_without_tool_support_is_asked_without_tools(
    use_llm_stub, django_capture_on_commit_callbacks
):
    from chatbot.models import LLMEndpoint, LLMModel

    endpoint = LLMEndpoint.objects.create(name="stub", base_url=use_llm_stub.base_url)
    LLMModel.objects.create(name="gpt-4o-mini", endpoint=endpoint, supports_tools=False)

    turn(ConversationFactory(), "hello", django_capture_on_commit_callbacks)

    assert use_llm_stub.requests[0].tools == []


def test_after_tool_results_a_fallback_without_tool_support_is_skipped(
    settings, use_llm_stub, django_capture_on_commit_callbacks
):
    from chatbot.models import LLMEndpoint, LLMModel, ProviderCall
    from tests.stub_llm import Error

    settings.LLM_MODEL, settings.LLM_FALLBACK_MODELS = "tools-model", ["plain-model"]
    endpoint = LLMEndpoint.objects.create(name="stub", base_url=use_llm_stub.base_url)
    LLMModel.objects.create(name="tools-model", endpoint=endpoint)
    LLMModel.objects.create(name="plain-model", endpoint=endpoint, supports_tools=False)
    use_llm_stub.script(ToolCalls([Call("get_conversation_status")]), model="tools-model")
    use_llm_stub.script(Error(status=400), model="tools-model")

    reply = turn(ConversationFactory(), "status?", django_capture_on_commit_callbacks)

    assert reply.status == Message.Status.FAILED
    skipped = ProviderCall.objects.filter(model="plain-model").values_list("error_kind", flat=True)
    assert list(skipped) == ["no_tool_support"]


def test_the_model_hands_the_conversation_to_a_person(
    use_llm_stub, django_capture_on_commit_callbacks
):
    from conversations.models import Conversation, ConversationEvent

    use_llm_stub.script(
        ToolCalls([Call("handoff_to_human", {"reason": "Customer wants a refund exception"})])
    )
    use_llm_stub.script(Reply(text="A colleague will join you shortly."))
    conversation = ConversationFactory()

    reply = turn(conversation, "My refund was refused twice.", django_capture_on_commit_callbacks)

    assert reply.content == "A colleague will join you shortly."
    assert Conversation.objects.get(pk=conversation.pk).handling in ("waiting", "followup")
    event = ConversationEvent.objects.get(conversation=conversation, kind="handoff_requested")
    assert event.detail["source"] == "tool"
    assert event.detail["note"] == "Customer wants a refund exception"
    told = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    assert told["status"] == "ok" and told["data"]["handling"] in ("waiting", "followup")


def test_the_model_searches_the_knowledge_base_of_its_widget_key_only(
    use_llm_stub, widget_key, django_capture_on_commit_callbacks
):
    from accounts.services import widget_key_create
    from chatbot.knowledge.services import article_save

    other = widget_key_create(name="Other shop")
    article_save(title="Returns", body="You can return any item within 30 days.")
    article_save(title="Staff discount", body="Staff get 50% off.", widget_key_ids=[other.id])
    use_llm_stub.script(
        ToolCalls([Call("search_knowledge_base", {"query": "return staff discount"})])
    )
    use_llm_stub.script(Reply(text="You can return items within 30 days."))
    conversation = ConversationFactory(widget_key=widget_key)

    reply = turn(conversation, "Hi there", django_capture_on_commit_callbacks)

    assert reply.content == "You can return items within 30 days."
    told = json.loads(use_llm_stub.requests[1].tool_results[0]["content"])
    titles = [hit["title"] for hit in told["data"]["results"]]
    assert "Returns" in titles and "Staff discount" not in titles
