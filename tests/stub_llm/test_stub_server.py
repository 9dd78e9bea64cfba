"""Tests for the stub LLM server, driven by the real ``openai`` SDK over loopback.

Plain pytest, no Django and no database: run with
``.venv/bin/python -m pytest tests/stub_llm -q -p no:django``.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import pytest

from tests.stub_llm import (
    CutStream,
    Echo,
    Error,
    Hang,
    MalformedJSON,
    Moderation,
    Reply,
    Reset,
    StubLLMServer,
    estimate_tokens,
    split_text,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
USER = [{"role": "user", "content": "Hi, I need help with my order"}]


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


def ask(client: openai.OpenAI, content: str = "hello", model: str = "gpt-test", **kw):
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], **kw
    )


def answer(client: openai.OpenAI, content: str = "hello", model: str = "gpt-test") -> str:
    return ask(client, content, model).choices[0].message.content or ""


def raw_request(
    stub: StubLLMServer,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", stub.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


# ---------------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a",
        "Hello there",
        "  leading and trailing  ",
        "The quick brown fox jumps over the lazy dog.",
        "multi\nline\n\ntext with\ttabs",
        "supercalifragilistic",
    ],
)
@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 50])
def test_split_text_never_loses_or_duplicates(text: str, n: int) -> None:
    pieces = split_text(text, n)
    assert "".join(pieces) == text
    assert len(pieces) == (1 if not text else min(n, len(text)))
    assert all(pieces) or text == ""


def test_split_text_prefers_word_boundaries() -> None:
    assert split_text("one two three four", 2) == ["one two", " three four"]
    assert split_text("one two three four", 4) == ["one", " two", " three", " four"]


def test_estimate_tokens() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


# ------------------------------------------------------------------------ happy paths


def test_non_streaming_reply_with_estimated_usage(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.script(Reply(text="Hello there, how can I help?"))
    messages = [
        {"role": "system", "content": "You are helpful."},  # 16 chars
        {"role": "user", "content": "Where is my parcel?"},  # 19 chars
    ]
    resp = client.chat.completions.create(model="gpt-test", messages=messages)

    assert resp.object == "chat.completion"
    assert resp.model == "gpt-test"
    choice = resp.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hello there, how can I help?"
    assert choice.finish_reason == "stop"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == 9  # ceil(35 / 4)
    assert resp.usage.completion_tokens == 7  # ceil(28 / 4)
    assert resp.usage.total_tokens == 16


def test_explicit_usage_and_model_override(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Reply(text="ok", prompt_tokens=123, completion_tokens=45, model="gpt-real-x"))
    resp = ask(client)
    assert resp.model == "gpt-real-x"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (123, 45)
    assert resp.usage.total_tokens == 168


def test_streaming_chunks_timing_and_text(stub: StubLLMServer, client: openai.OpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    ttft, delay = 0.15, 0.04
    list(ask(client, stream=True))  # warm up: the SDK's first chunk parse is slow (~10 ms)
    stub.script(Reply(text=text, chunks=5, ttft=ttft, chunk_delay=delay))

    started = time.monotonic()
    stream = ask(client, stream=True)
    arrivals, chunks = [], []
    for chunk in stream:
        arrivals.append(time.monotonic() - started)
        chunks.append(chunk)

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    content = [(t, c) for t, c in zip(arrivals, chunks, strict=True) if c.choices[0].delta.content]
    assert len(content) == 5
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for _, c in content) == text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)  # no usage chunk unless asked
    assert {c.model for c in chunks} == {"gpt-test"}
    assert len({c.id for c in chunks}) == 1

    # The server paces chunks on an absolute schedule from request receipt: chunk i is
    # written at ttft + i * chunk_delay, so it can never arrive before that.  (Gaps between
    # *observed* arrivals can be shorter if one chunk is observed late, so check the
    # schedule, not the gaps.)
    for i, (t, _) in enumerate(content):
        assert t >= ttft + i * delay, (i, t)
        assert t < ttft + i * delay + 1.0, (i, t)


def test_stream_usage_chunk_with_include_usage(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Reply(text="Twelve chars", chunks=3, prompt_tokens=10))
    chunks = list(ask(client, stream=True, stream_options={"include_usage": True}))

    usage_chunk = chunks[-1]
    assert usage_chunk.choices == []
    assert usage_chunk.usage is not None
    assert usage_chunk.usage.prompt_tokens == 10
    assert usage_chunk.usage.completion_tokens == 3
    assert usage_chunk.usage.total_tokens == 13
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert stub.requests[0].include_usage is True


def test_default_echoes_last_user_message_in_several_chunks(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    messages = [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "where is my refund?"},
    ]
    resp = client.chat.completions.create(model="gpt-test", messages=messages)
    assert resp.choices[0].message.content == "Echo: where is my refund?"

    stream = client.chat.completions.create(model="gpt-test", messages=messages, stream=True)
    deltas = [c.choices[0].delta.content for c in stream if c.choices[0].delta.content]
    assert len(deltas) >= 3
    assert "".join(deltas) == "Echo: where is my refund?"
    assert [r.outcome for r in stub.requests] == ["echo", "echo"]
    assert not any(r.scripted for r in stub.requests)


def test_default_can_be_replaced_and_reset_restores_it(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.default = Reply(text="fixed")
    assert answer(client) == "fixed"
    assert answer(client) == "fixed"
    stub.default = Echo(prefix=">> ")
    assert answer(client, "x") == ">> x"
    stub.reset()
    assert answer(client, "y") == "Echo: y"
    assert len(stub.requests) == 1


# ----------------------------------------------------------------------------- errors


def test_429_with_retry_after_raises_rate_limit_error(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.script(Error(status=429, retry_after=2, message="rate limited"))
    with pytest.raises(openai.RateLimitError) as excinfo:
        ask(client)

    err = excinfo.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "2"
    assert err.code == "rate_limit_exceeded"
    assert err.body == {
        "message": "rate limited",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert "rate limited" in str(err)
    (rec,) = stub.requests  # max_retries=0: exactly one attempt, and it is recorded
    assert (rec.outcome, rec.status) == ("error", 429)


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_status_errors_map_to_sdk_exceptions(
    stub: StubLLMServer,
    client: openai.OpenAI,
    status: int,
    exc_type: type[openai.APIStatusError],
    stream: bool,
) -> None:
    stub.script(Error(status=status))
    with pytest.raises(exc_type) as excinfo:
        ask(client, stream=stream)
    assert excinfo.value.status_code == status


def test_context_length_error_code(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Error(status=400, code="context_length_exceeded", message="too long"))
    with pytest.raises(openai.BadRequestError) as excinfo:
        ask(client)
    assert excinfo.value.code == "context_length_exceeded"
    assert excinfo.value.type == "invalid_request_error"
    assert excinfo.value.message == "Error code: 400 - too long"


def test_sdk_retries_and_honours_retry_after(stub: StubLLMServer) -> None:
    """With retries on, the SDK retries a 429 after ``Retry-After`` (here 0.2 s) and the
    retry consumes the next script entry; ``x-stainless-retry-count`` tells them apart."""
    stub.script(Error(status=429, retry_after=0.2))
    stub.script(Reply(text="after retry"))
    with openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=2) as c:
        started = time.monotonic()
        assert answer(c) == "after retry"
        elapsed = time.monotonic() - started
    first, second = stub.requests
    assert second.received_at - first.received_at >= 0.2
    assert elapsed < 2.0
    assert [r.headers["x-stainless-retry-count"] for r in (first, second)] == ["0", "1"]


def test_should_retry_false_header_stops_sdk_retries(stub: StubLLMServer) -> None:
    stub.script(Error(status=503, should_retry=False))
    with (
        openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=3) as c,
        pytest.raises(openai.InternalServerError),
    ):
        ask(c)
    assert len(stub.requests) == 1


# ------------------------------------------------------------------- transport faults


@pytest.mark.parametrize("stream", [False, True])
def test_hang_with_client_timeout_raises_api_timeout_error(
    stub: StubLLMServer, stream: bool
) -> None:
    stub.script(Hang(seconds=10))
    with openai.OpenAI(base_url=stub.base_url, api_key="t", max_retries=0, timeout=0.3) as c:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(c, stream=stream)
        assert time.monotonic() - started < 2.0
    assert stub.requests[0].outcome == "hang"
    assert stub.requests[0].status is None


def test_reset_aborts_hang_in_flight(stub: StubLLMServer) -> None:
    stub.script(Hang(seconds=30))
    with openai.OpenAI(base_url=stub.base_url, api_key="t", max_retries=0, timeout=10) as c:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                ask(c)
            except openai.APIError as exc:
                errors.append(exc)

        t = threading.Thread(target=call)
        t.start()
        (rec,) = stub.wait_for_requests(1, timeout=5)
        started = time.monotonic()
        stub.reset()
        assert rec.wait_finished(timeout=2)
        t.join(timeout=5)
        assert time.monotonic() - started < 2.0
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


@pytest.mark.parametrize("stream", [False, True])
def test_reset_raises_api_connection_error(
    stub: StubLLMServer, client: openai.OpenAI, stream: bool
) -> None:
    stub.script(Reset())
    with pytest.raises(openai.APIConnectionError) as excinfo:
        ask(client, stream=stream)
    assert not isinstance(excinfo.value, openai.APITimeoutError)
    assert stub.requests[0].outcome == "reset"


def test_cut_stream_raises_api_connection_error_mid_iteration(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    """openai 3.54: the response is chunked-encoded, so a connection dropped before the
    terminating chunk makes httpx2 raise ``RemoteProtocolError`` ("incomplete chunked
    read"), which the SDK's ``Stream`` wraps in ``openai.APIConnectionError`` *during
    iteration*, after the chunks already received were yielded.  It does not end
    silently and never yields a ``finish_reason``."""
    stub.script(CutStream(text="partial answer that is cut off here", after_chunks=2, chunks=4))
    received: list[str] = []
    finish_reasons = []
    stream = ask(client, stream=True)  # headers arrive fine: create() returns
    with pytest.raises(openai.APIConnectionError) as excinfo:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
            finish_reasons.append(chunk.choices[0].finish_reason)
    assert not isinstance(excinfo.value, openai.APITimeoutError)
    assert "".join(received) == "partial answer that is"
    assert finish_reasons == [None, None]
    assert "incomplete chunked read" in str(excinfo.value.__cause__)


def test_cut_non_streaming_body_raises_api_connection_error(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.script(CutStream())
    with pytest.raises(openai.APIConnectionError):
        ask(client)


def test_malformed_json_non_streaming(stub: StubLLMServer, client: openai.OpenAI) -> None:
    """openai 3.54 does not wrap a bad JSON body: ``json.JSONDecodeError`` escapes as-is
    (not an ``openai.APIError``)."""
    stub.script(MalformedJSON())
    with pytest.raises(json.JSONDecodeError):
        ask(client)
    assert stub.requests[0].outcome == "malformed_json"


def test_malformed_json_streaming(stub: StubLLMServer, client: openai.OpenAI) -> None:
    """Same for a ``data:`` line that is not JSON: raised raw while iterating."""
    stub.script(MalformedJSON())
    stream = ask(client, stream=True)
    with pytest.raises(json.JSONDecodeError):
        list(stream)


# -------------------------------------------------------------------------- scripting


def test_script_is_fifo(stub: StubLLMServer, client: openai.OpenAI) -> None:
    for text in ("one", "two", "three"):
        stub.script(Reply(text=text))
    assert [answer(client) for _ in range(4)] == ["one", "two", "three", "Echo: hello"]
    assert [r.scripted for r in stub.requests] == [True, True, True, False]
    assert stub.pending == []


def test_times_repeats_an_entry(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Reply(text="again"), times=3)
    stub.script(Reply(text="then"))
    assert [answer(client) for _ in range(5)] == ["again"] * 3 + ["then", "Echo: hello"]


def test_model_matching(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Reply(text="from fallback"), model="gpt-fallback")
    stub.script(Reply(text="from any"))
    # The first entry is skipped for other models, so FIFO applies among matches only.
    assert answer(client, model="gpt-primary") == "from any"
    assert answer(client, model="gpt-primary") == "Echo: hello"
    assert answer(client, model="gpt-fallback") == "from fallback"


def test_when_contains_matches_last_user_message(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.script(Reply(text="Refunds take 5 days."), when_contains="refund")
    messages = [
        {"role": "user", "content": "tell me about refund"},  # not the last user message
        {"role": "assistant", "content": "Sure."},
        {"role": "user", "content": "and shipping?"},
    ]
    resp = client.chat.completions.create(model="m", messages=messages)
    assert resp.choices[0].message.content == "Echo: and shipping?"
    assert answer(client, "I want a refund please") == "Refunds take 5 days."
    assert answer(client, "another refund") == "Echo: another refund"


def test_when_contains_and_model_with_content_parts(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    stub.script(Error(status=500), model="m2", when_contains="boom")
    parts = [{"type": "text", "text": "please "}, {"type": "text", "text": "boom"}]
    assert answer(client, "boom", model="m1") == "Echo: boom"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="m2", messages=[{"role": "user", "content": parts}])


def test_script_validation(stub: StubLLMServer) -> None:
    with pytest.raises(ValueError, match="times"):
        stub.script(Reply(), times=0)
    with pytest.raises(ValueError, match="moderations"):
        stub.script(Moderation(), endpoint="chat")
    with pytest.raises(ValueError, match="chat"):
        stub.script(Reply(), endpoint="moderations")
    with pytest.raises(TypeError):
        stub.script("not an action")  # type: ignore[arg-type]


# ------------------------------------------------------------------------ moderations


def test_moderation_default_and_scripted(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(
        Moderation(flagged=True, categories={"harassment": True}, scores={"harassment": 0.97})
    )
    stub.script(Reply(text="chat entry"))  # chat entries never match moderations

    flagged = client.moderations.create(input="you are an idiot")
    result = flagged.results[0]
    assert result.flagged is True
    assert result.categories.harassment is True
    assert result.categories.hate is False
    assert result.category_scores.harassment == pytest.approx(0.97)
    assert flagged.model == "omni-moderation-latest"

    clean = client.moderations.create(input="hello", model="omni-moderation-2024-09-26")
    assert clean.results[0].flagged is False
    assert clean.model == "omni-moderation-2024-09-26"

    assert answer(client) == "chat entry"
    assert [r.outcome for r in stub.requests] == ["moderation", "moderation", "reply"]


def test_moderation_aliases_lists_and_errors(stub: StubLLMServer, client: openai.OpenAI) -> None:
    stub.script(Moderation(categories={"self_harm_intent": True}), when_contains="hurt")
    stub.script(Error(status=503), endpoint="moderations")
    resp = client.moderations.create(input=["fine", "I want to hurt myself"])
    assert len(resp.results) == 2
    assert resp.results[0].categories.self_harm_intent is True
    assert resp.results[0].flagged is True
    with pytest.raises(openai.InternalServerError):
        client.moderations.create(input="x")


# ---------------------------------------------------------------------- other routes


def test_models_list_has_seen_models(stub: StubLLMServer, client: openai.OpenAI) -> None:
    answer(client, model="gpt-a")
    answer(client, model="gpt-b")
    ids = [m.id for m in client.models.list()]
    assert ids == ["stub-model", "gpt-a", "gpt-b"]


def test_missing_auth_is_401_and_recorded(stub: StubLLMServer) -> None:
    body = json.dumps({"model": "m", "messages": USER}).encode()
    status, data = raw_request(stub, "POST", "/v1/chat/completions", body)
    assert status == 401
    assert data["error"]["type"] == "invalid_request_error"
    assert set(data["error"]) == {"message", "type", "param", "code"}
    (rec,) = stub.requests
    assert (rec.outcome, rec.status, rec.api_key) == ("unauthorized", 401, None)


def test_unknown_path_is_404_and_bad_json_is_400(stub: StubLLMServer) -> None:
    auth = {"Authorization": "Bearer k", "Content-Type": "application/json"}
    status, data = raw_request(stub, "POST", "/v1/completions", b"{}", auth)
    assert status == 404
    assert "message" in data["error"]
    status, data = raw_request(stub, "POST", "/v1/chat/completions", b"{not json", auth)
    assert status == 400
    assert data["error"]["type"] == "invalid_request_error"
    status, _ = raw_request(stub, "POST", "/v1/chat/completions", b'{"model": "m"}', auth)
    assert status == 400
    assert [r.outcome for r in stub.requests] == ["not_found", "bad_request", "bad_request"]


def test_unknown_path_via_sdk_is_not_found_error(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.NotFoundError):
        client.files.list()


def test_embeddings_are_deterministic_vectors_of_the_words(client: openai.OpenAI) -> None:
    first = client.embeddings.create(model="emb", input=["parcel delivery", "parcel delivery"])
    a, b = (item.embedding for item in first.data)
    assert a == b and len(a) == 64 and sum(a) == 2.0


# ------------------------------------------------------------------------- recording


def test_requests_are_recorded_with_details(stub: StubLLMServer) -> None:
    stub.script(Reply(text="ok"))
    stub.script(Error(status=500))
    with openai.OpenAI(base_url=stub.base_url, api_key="sk-secret", max_retries=0) as c:
        before = time.monotonic()
        ask(c, "first", model="m1", temperature=0.2)
        with pytest.raises(openai.InternalServerError):
            list(ask(c, "second", model="m2", stream=True))

    first, second = stub.requests
    assert first.path == second.path == "/v1/chat/completions"
    assert first.method == "POST"
    assert first.api_key == "sk-secret"
    assert first.headers["authorization"] == "Bearer sk-secret"
    assert first.model == "m1"
    assert first.messages == [{"role": "user", "content": "first"}]
    assert first.last_user_message == "first"
    assert first.stream is False
    assert first.body is not None
    assert first.body["temperature"] == 0.2
    assert (first.outcome, first.status, first.scripted) == ("reply", 200, True)
    assert isinstance(first.action, Reply)
    assert second.stream is True
    assert (second.model, second.outcome, second.status) == ("m2", "error", 500)
    assert before <= first.received_at <= second.received_at <= time.monotonic()
    assert first.wait_finished(1)
    assert first.finished_at is not None
    assert first.finished_at >= first.received_at


def test_wait_for_requests(stub: StubLLMServer, client: openai.OpenAI) -> None:
    with pytest.raises(TimeoutError):
        stub.wait_for_requests(1, timeout=0.05)
    answers: list[str] = []
    timer = threading.Timer(0.1, lambda: answers.append(answer(client)))
    timer.start()
    recs = stub.wait_for_requests(1, timeout=5)
    assert len(recs) == 1
    timer.join(timeout=5)
    assert answers == ["Echo: hello"]


# ------------------------------------------------------------------------ concurrency


def test_twenty_concurrent_streams_overlap(stub: StubLLMServer) -> None:
    n, ttft, delay, chunks = 20, 0.2, 0.04, 6
    stub.default = Reply(
        text="one two three four five six", chunks=chunks, ttft=ttft, chunk_delay=delay
    )
    single = ttft + (chunks - 1) * delay  # 0.4 s per request when alone
    barrier = threading.Barrier(n)

    with openai.OpenAI(base_url=stub.base_url, api_key="t", max_retries=0, timeout=10) as c:

        def run(i: int) -> tuple[float, float, str]:
            barrier.wait()
            start = time.monotonic()
            text = "".join(
                ch.choices[0].delta.content or ""
                for ch in ask(c, f"q{i}", stream=True)
                if ch.choices
            )
            return start, time.monotonic(), text

        wall_start = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(run, range(n)))
        wall = time.monotonic() - wall_start

    assert all(text == "one two three four five six" for _, _, text in results)
    starts = [s for s, _, _ in results]
    ends = [e for _, e, _ in results]
    assert max(starts) < min(ends)  # every request was in flight at the same moment
    assert all(e - s >= single for s, e, _ in results)
    assert wall < n * single / 2  # serial would take n * single = 8 s
    assert len(stub.requests) == n


def _conn_threads(stub: StubLLMServer) -> int:
    return sum(t.name == f"stub-llm-conn:{stub.port}" for t in threading.enumerate())


def test_keep_alive_and_connection_threads_are_reused(
    stub: StubLLMServer, client: openai.OpenAI
) -> None:
    for _ in range(5):
        answer(client)
    assert len({r.client_address for r in stub.requests}) == 1  # one keep-alive connection

    # openai 3.54's sync Stream closes its connection after [DONE] (it does not drain the
    # body), so each stream is a new TCP connection: the server must reuse idle threads.
    before = _conn_threads(stub)
    for _ in range(30):
        list(ask(client, stream=True))
    assert _conn_threads(stub) - before <= 5


def test_restart_on_the_same_port() -> None:
    stub = StubLLMServer().start()
    port = stub.port
    stub.stop()
    with stub, openai.OpenAI(base_url=stub.base_url, api_key="t", max_retries=0) as c:
        assert stub.port == port
        assert answer(c) == "Echo: hello"


def test_stop_closes_hanging_requests_quickly() -> None:
    stub = StubLLMServer().start()
    stub.script(Hang(seconds=30))
    errors: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(base_url=stub.base_url, api_key="t", max_retries=0) as c:
            try:
                ask(c)
            except openai.APIError as exc:
                errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    stub.wait_for_requests(1)
    started = time.monotonic()
    stub.stop()
    t.join(timeout=5)
    assert time.monotonic() - started < 2.0
    assert len(errors) == 1
    assert isinstance(errors[0], openai.APIConnectionError)


# -------------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_starts_and_answers() -> None:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "tests.stub_llm",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--ttft-ms",
        "20",
        "--chunk-ms",
        "5",
        "--chunks",
        "3",
        "--text",
        "benchmark reply text",
    ]
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        cmd,
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "the CLI did not print its base URL within 30 s"
        line = proc.stdout.readline().strip()
        assert line == f"http://127.0.0.1:{port}/v1"
        with openai.OpenAI(base_url=line, api_key="bench", max_retries=0, timeout=5) as c:
            assert answer(c) == "benchmark reply text"
            deltas = [
                ch.choices[0].delta.content
                for ch in ask(c, stream=True)
                if ch.choices and ch.choices[0].delta.content
            ]
            assert deltas == ["benchmark", " reply", " text"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    assert re.search(r"stub LLM serving", proc.stderr.read() if proc.stderr else "")
