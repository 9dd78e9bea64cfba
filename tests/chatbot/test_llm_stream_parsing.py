"""The provider's own reading of the SSE stream (chatbot.llm.openai_provider): the SDK
sends the request, the provider splits the events and decodes them with orjson. Against
the real stub over loopback, through the real SDK client; `_sse_data` alone on bytes cut
at every boundary."""

import orjson
import pytest

from chatbot.llm import ChatMessage, ChatRequest, LLMError, ToolCallRequest, ToolSpec
from chatbot.llm.openai_provider import OpenAIProvider, _sse_data
from tests.stub_llm import MalformedJSON, Reply, ToolCall, ToolCalls


def _provider(stub, read_timeout=2.0) -> OpenAIProvider:
    return OpenAIProvider(
        base_url=stub.base_url, api_key="sk-test", connect_timeout=1, read_timeout=read_timeout
    )


LOOKUP = ToolSpec(
    name="order_status",
    description="Where an order is.",
    parameters={"type": "object", "properties": {"order": {"type": "string"}}},
)


def test_messages_and_tools_reach_the_server_in_the_wire_shape(llm_stub):
    llm_stub.script(Reply(text="ok"))
    call = ToolCallRequest(id="call_1", name="order_status", arguments='{"order": "A1"}')
    request = ChatRequest(
        model="gpt-test",
        messages=[
            ChatMessage("system", "be nice"),
            ChatMessage("user", "where is A1?"),
            ChatMessage("assistant", "", tool_calls=(call,)),
            ChatMessage("tool", '{"status": "shipped"}', tool_call_id="call_1"),
        ],
        tools=(LOOKUP,),
        temperature=0.0,
    )
    _provider(llm_stub).stream(request, lambda _t: None)
    body = llm_stub.requests[0].body
    assert body["messages"] == [
        {"role": "system", "content": "be nice"},
        {"role": "user", "content": "where is A1?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "order_status", "arguments": '{"order": "A1"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "order_status",
                "description": "Where an order is.",
                "parameters": LOOKUP.parameters,
            },
        }
    ]
    assert body["model"] == "gpt-test" and body["temperature"] == 0.0
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_tool_calls_streamed_in_pieces_are_put_back_together(llm_stub):
    action = ToolCalls(
        calls=(
            ToolCall(name="order_status", arguments={"order": "A1"}),
            ToolCall(name="order_status", arguments={"order": "B22"}),
        ),
        text="Let me look.",
        argument_chunks=4,
    )
    llm_stub.script(action)
    deltas = []
    request = ChatRequest(model="gpt-test", messages=[ChatMessage("user", "a?")], tools=(LOOKUP,))
    completion = _provider(llm_stub).stream(request, deltas.append)
    assert completion.finish_reason == "tool_calls"
    assert "".join(deltas) == completion.text == "Let me look."
    assert [(c.id, c.name, orjson.loads(c.arguments)) for c in completion.tool_calls] == [
        (action.call_ids[0], "order_status", {"order": "A1"}),
        (action.call_ids[1], "order_status", {"order": "B22"}),
    ]
    assert completion.prompt_tokens is not None and completion.completion_tokens is not None


def test_usage_model_and_finish_reason_come_from_the_stream(llm_stub):
    llm_stub.script(
        Reply(
            text="one two three four five",
            chunks=5,
            model="served-model",
            prompt_tokens=3,
            completion_tokens=5,
            finish_reason="length",
        )
    )
    deltas = []
    completion = _provider(llm_stub).stream(
        ChatRequest(model="gpt-test", messages=[ChatMessage("user", "count")]), deltas.append
    )
    assert len(deltas) == 5 and "".join(deltas) == "one two three four five"
    assert completion.model == "served-model" and completion.finish_reason == "length"
    assert (completion.prompt_tokens, completion.completion_tokens) == (3, 5)
    assert completion.ttft_ms is not None and completion.latency_ms >= completion.ttft_ms


REQUEST = ChatRequest(model="gpt-test", messages=[ChatMessage("user", "hello?")])


def test_an_error_inside_a_200_stream_is_a_retryable_provider_error(llm_stub):
    llm_stub.script(MalformedJSON(body='{"error": {"message": "overloaded, try again"}}'))
    with pytest.raises(LLMError) as caught:
        _provider(llm_stub).stream(REQUEST, lambda _t: None)
    assert caught.value.code == "provider_error" and caught.value.retryable
    assert "overloaded, try again" in str(caught.value)


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', '{"choices": [{"delta": {"content": 7}}]}'])
def test_a_chunk_of_the_wrong_shape_is_a_malformed_response(llm_stub, body):
    llm_stub.script(MalformedJSON(body=body))
    with pytest.raises(LLMError) as caught:
        _provider(llm_stub).stream(REQUEST, lambda _t: None)
    assert caught.value.code == "malformed_response" and caught.value.retryable


def test_a_stream_that_stalls_after_its_first_chunks_times_out(llm_stub):
    llm_stub.script(Reply(text="slow answer here", chunks=3, chunk_delay=1.5))
    deltas = []
    with pytest.raises(LLMError) as caught:
        _provider(llm_stub, read_timeout=0.4).stream(REQUEST, deltas.append)
    assert caught.value.code == "timeout" and caught.value.retryable
    assert deltas == ["slow"]  # the first chunk arrived before the stall


STREAM = (
    b": a comment\n"
    b"event: message\n"
    b'data: {"a": 1}\n'
    b"\n"
    b"id: 7\r\n"
    b'data:{"b":\r\n'
    b"data: 2}\r\n"
    b"\r\n"
    b"retry: 100\n"
    b"\n"  # an event with no data: nothing
    b"data: [DONE]\n"
    b"\n"
    b'data: {"never": "ended"}\n'  # no blank line before the end: dropped, as by the SDK
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, len(STREAM)])
def test_sse_data_splits_events_wherever_the_bytes_are_cut(size):
    pieces = [STREAM[i : i + size] for i in range(0, len(STREAM), size)]
    assert list(_sse_data(None, iter(pieces))) == [b'{"a": 1}', b'{"b":\n2}', b"[DONE]"]
