"""The stub streams function calls exactly as the OpenAI API does, read by the real SDK.

Plain pytest, no Django: ``.venv/bin/python -m pytest tests/stub_llm -q -p no:django``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from tests.stub_llm import Reply, StubLLMServer, ToolCall, ToolCalls

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[StubLLMServer]:
    with StubLLMServer() as stub:
        yield stub


@pytest.fixture
def stub(server: StubLLMServer) -> Iterator[StubLLMServer]:
    server.reset()
    yield server
    server.reset()


@pytest.fixture
def client(stub: StubLLMServer) -> Iterator[openai.OpenAI]:
    c = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0, timeout=5.0)
    yield c
    c.close()


def stream_chunks(client: openai.OpenAI, **kw) -> list:
    with client.chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": "weather in Paris and Oslo?"}],
        tools=[WEATHER],
        stream=True,
        stream_options={"include_usage": True},
        **kw,
    ) as stream:
        return list(stream)


def test_one_call_is_split_over_several_chunks_like_the_api(stub, client) -> None:
    action = ToolCalls([ToolCall("get_weather", {"city": "Paris"}, id="call_1")])
    stub.script(action)

    chunks = stream_chunks(client)

    deltas = [c.choices[0].delta for c in chunks if c.choices]
    first = deltas[0].tool_calls[0]
    assert deltas[0].role == "assistant" and deltas[0].content is None
    assert (first.index, first.id, first.type) == (0, "call_1", "function")
    assert first.function.name == "get_weather" and first.function.arguments == ""
    pieces = [d.tool_calls[0] for d in deltas[1:] if d.tool_calls]
    assert len(pieces) == 3  # the arguments, in argument_chunks pieces
    assert all(p.id is None and p.function.name is None and p.index == 0 for p in pieces)
    assert json.loads("".join(p.function.arguments for p in pieces)) == {"city": "Paris"}
    finals = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finals[-1] == "tool_calls" and set(finals[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert stub.requests[0].tool_names == ["get_weather"]


def test_parallel_calls_have_their_own_index_and_id(stub, client) -> None:
    action = ToolCalls(
        [ToolCall("get_weather", {"city": "Paris"}), ToolCall("get_weather", {"city": "Oslo"})],
        argument_chunks=2,
    )
    stub.script(action)

    chunks = stream_chunks(client)

    assembled: dict[int, dict] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for part in choice.delta.tool_calls or []:
                call = assembled.setdefault(part.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += part.id or ""
                call["name"] += (part.function.name or "") if part.function else ""
                call["arguments"] += (part.function.arguments or "") if part.function else ""
    assert sorted(assembled) == [0, 1]
    assert [assembled[i]["id"] for i in (0, 1)] == list(action.call_ids)
    assert [json.loads(assembled[i]["arguments"])["city"] for i in (0, 1)] == ["Paris", "Oslo"]


def test_text_before_the_calls_streams_as_content(stub, client) -> None:
    stub.script(ToolCalls([ToolCall("get_weather", {"city": "Oslo"})], text="Let me check."))

    chunks = stream_chunks(client)

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Let me check."


def test_non_streaming_answer_has_message_tool_calls(stub, client) -> None:
    stub.script(ToolCalls([ToolCall("get_weather", '{"city": "Rome"}', id="call_x")]))

    response = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "Rome?"}], tools=[WEATHER]
    )

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    assert choice.message.tool_calls[0].id == "call_x"
    assert choice.message.tool_calls[0].function.arguments == '{"city": "Rome"}'


def test_tool_results_sent_back_are_recorded_and_the_script_goes_on(stub, client) -> None:
    action = ToolCalls([ToolCall("get_weather", {"city": "Paris"}, id="call_1")])
    stub.script(action)
    stub.script(Reply(text="Sunny in Paris."))
    stream_chunks(client)

    response = client.chat.completions.create(
        model="gpt-test",
        messages=[
            {"role": "user", "content": "weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'},
        ],
        tools=[WEATHER],
    )

    assert response.choices[0].message.content == "Sunny in Paris."
    assert stub.requests[1].tool_results == [
        {"role": "tool", "tool_call_id": "call_1", "content": '{"sky": "sunny"}'}
    ]
