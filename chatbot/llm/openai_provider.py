"""The only module that imports `openai`.

One SDK client per endpoint is created and reused (connection pooling); timeouts and
SDK retries are explicit. Errors are translated into `LLMError` with a stable code.

A streamed completion is requested through the SDK (auth, base URL, timeouts, HTTP
errors mapped to its exceptions) but its server-sent events are read here: the SDK's
`Stream` builds a pydantic `ChatCompletionChunk` per chunk, which was the largest share of
a worker's CPU per turn (docs/benchmarks.md); `_sse_data` splits the raw bytes and orjson
decodes each `data:` field into plain dicts.
"""

import email.utils
import ssl
import threading
import time
from collections.abc import Iterable, Iterator

import httpx2
import openai
import orjson

from .types import (
    ChatMessage,
    ChatRequest,
    Completion,
    DeltaCallback,
    LLMError,
    ModerationResult,
    ToolCallRequest,
)

_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def _client(
    *,
    base_url: str | None,
    api_key: str,
    connect_timeout: float,
    read_timeout: float,
) -> openai.OpenAI:
    key = (base_url, api_key, connect_timeout, read_timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = openai.OpenAI(
                base_url=base_url or None,
                api_key=api_key or "not-needed",  # local servers (Ollama, vLLM) need none
                timeout=httpx2.Timeout(read_timeout, connect=connect_timeout),
                # chatbot.routing is the one retry layer: the SDK never retries on its own.
                max_retries=0,
            )
            _clients[key] = client
        return client


def _retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the server asks us to wait: `retry-after-ms`, then `Retry-After` (seconds
    or an HTTP date), as the SDK itself reads them."""
    headers = exc.response.headers if exc.response is not None else {}
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
    except ValueError:
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _classify(exc: Exception) -> LLMError:
    if isinstance(exc, openai.APITimeoutError):
        return LLMError("timeout", "The model did not answer in time.", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return LLMError("connection_error", "Could not reach the model.", retryable=True)
    if isinstance(exc, openai.RateLimitError):
        return LLMError(
            "rate_limited",
            "The model provider is rate limiting.",
            retryable=True,
            status=429,
            retry_after=_retry_after(exc),
        )
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body_code = getattr(exc, "code", None) or ""
        if status == 400 and "context_length" in str(body_code):
            return LLMError("context_length_exceeded", str(exc.message), status=status)
        if status in (401, 403):
            return LLMError(
                "auth_failed", "The model provider refused our credentials.", status=status
            )
        if status == 404:
            return LLMError("model_not_found", str(exc.message), status=status)
        if status >= 500 or status == 408 or status == 409:
            return LLMError(
                "provider_error",
                str(exc.message),
                retryable=True,
                status=status,
                retry_after=_retry_after(exc),
            )
        return LLMError("bad_request", str(exc.message), status=status)
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return LLMError(
            "malformed_response", "The model returned an unreadable answer.", retryable=True
        )
    if isinstance(exc, openai.OpenAIError):
        return LLMError("provider_error", str(exc), retryable=True)
    raise exc


def _wire_message(message: ChatMessage) -> dict:
    """A message in the chat-completions shape, tool calls and tool results included."""
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict = {"role": message.role, "content": message.content}
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in message.tool_calls
        ]
    return wire


# What breaks a stream being read, as the SDK's own `Stream` maps it (openai._httpx2).
_TIMEOUT_ERRORS = (httpx2.TimeoutException,)
_TRANSPORT_ERRORS = (httpx2.RequestError, ssl.SSLError)


def _sse_data(http_response: httpx2.Response, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The `data` of each server-sent event in `chunks`, as bytes, in order.

    Lines end with LF or CRLF (every OpenAI-compatible server; a lone CR is not taken as
    a line end); a blank line ends an event and its `data:` lines are joined with LF;
    comments, `event:`, `id:` and `retry:` fields are skipped, as is an event not ended
    by a blank line when the stream stops (as the SDK's decoder does). Transport errors
    while reading become the SDK's exceptions, as in its `Stream`."""
    buffer = b""
    data: list[bytes] = []
    try:
        for chunk in chunks:
            buffer += chunk
            if b"\n" not in chunk:
                continue
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line[-1:] == b"\r":
                    line = line[:-1]
                if not line:
                    if data:
                        yield data[0] if len(data) == 1 else b"\n".join(data)
                        data = []
                elif line[:5] == b"data:":
                    data.append(line[6:] if line[5:6] == b" " else line[5:])
    except _TIMEOUT_ERRORS as exc:
        raise openai.APITimeoutError(request=http_response.request) from exc
    except _TRANSPORT_ERRORS as exc:
        raise openai.APIConnectionError(request=http_response.request) from exc


def _stream_error(error: object, http_response: httpx2.Response) -> openai.APIError:
    """`{"error": …}` inside a 200 stream: the SDK's `APIError`, with the message."""
    message = error.get("message") if isinstance(error, dict) else None
    if not message or not isinstance(message, str):
        message = "An error occurred during streaming"
    return openai.APIError(message=message, request=http_response.request, body=error)


class _ToolCallAssembler:
    """Streamed `tool_calls` deltas, put back together: the first delta of a call carries
    its `index`, `id` and name; the arguments follow in pieces under the same index."""

    def __init__(self):
        self.calls: dict[int, dict[str, str]] = {}

    def feed(self, parts: list) -> None:
        """`parts`: a chunk's `delta.tool_calls`, as decoded JSON."""
        for part in parts:
            if not isinstance(part, dict):
                raise ValueError("a tool call delta is not an object")
            call = self.calls.setdefault(
                part.get("index") or 0, {"id": "", "name": "", "arguments": ""}
            )
            if part.get("id"):
                call["id"] = part["id"]
            if function := part.get("function"):
                call["name"] += function.get("name") or ""
                call["arguments"] += function.get("arguments") or ""

    def result(self) -> tuple[ToolCallRequest, ...]:
        return tuple(
            ToolCallRequest(
                id=call["id"] or f"call_{index}", name=call["name"], arguments=call["arguments"]
            )
            for index, call in sorted(self.calls.items())
        )


class OpenAIProvider:
    """Any OpenAI-compatible chat-completions server, streamed."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        connect_timeout: float,
        read_timeout: float,
    ):
        self.name = base_url or "openai"
        self._client = _client(
            base_url=base_url,
            api_key=api_key,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )

    def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> Completion:
        started = time.monotonic()
        ttft_ms: int | None = None
        pieces: list[str] = []
        model = request.model
        finish_reason = None
        prompt_tokens = completion_tokens = None
        kwargs = {}
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.max_tokens is not None:
            kwargs["max_tokens"] = request.max_tokens
        if request.user:
            kwargs["user"] = request.user
        # The messages and tools go in `extra_body`, which the SDK sends as it is (and which
        # takes precedence over its arguments): they are already in the wire shape, and the
        # SDK's TypedDict transform of `messages=` walks every field of every message (the
        # largest CPU cost of a turn's request, growing with the history).
        body: dict = {"messages": [_wire_message(m) for m in request.messages]}
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.parameters,
                    },
                }
                for t in request.tools
            ]
        tool_calls = _ToolCallAssembler()
        try:
            with self._client.chat.completions.with_streaming_response.create(
                model=request.model,
                messages=(),  # sent in `body`
                stream=True,
                stream_options={"include_usage": True},
                extra_body=body,
                **kwargs,
            ) as response:
                for data in _sse_data(response.http_response, response.iter_bytes()):
                    if data.startswith(b"[DONE]"):
                        break
                    chunk = orjson.loads(data)  # orjson.JSONDecodeError is a ValueError
                    if type(chunk) is not dict:
                        raise ValueError("a stream chunk is not an object")
                    if error := chunk.get("error"):  # an error sent inside a 200 stream
                        raise _stream_error(error, response.http_response)
                    model = chunk.get("model") or model
                    if usage := chunk.get("usage"):
                        prompt_tokens = usage.get("prompt_tokens")
                        completion_tokens = usage.get("completion_tokens")
                    for choice in chunk.get("choices") or ():
                        if delta := choice.get("delta"):
                            text = delta.get("content")
                            if text:
                                if type(text) is not str:
                                    raise ValueError("a content delta is not a string")
                                if ttft_ms is None:
                                    ttft_ms = int((time.monotonic() - started) * 1000)
                                pieces.append(text)
                                on_delta(text)
                            if parts := delta.get("tool_calls"):
                                tool_calls.feed(parts)
                        if reason := choice.get("finish_reason"):
                            finish_reason = reason
        except Exception as exc:
            error = _classify(exc)
            if error.code == "connection_error" and pieces:
                # The connection broke after the answer had begun: a cut stream.
                error = LLMError(
                    "stream_interrupted", "The model's answer was cut off.", retryable=True
                )
            raise error from exc
        if finish_reason is None:
            # The connection ended without the model saying it was done: a cut stream.
            raise LLMError(
                "stream_interrupted",
                "The model's answer was cut off.",
                retryable=True,
            )
        return Completion(
            text="".join(pieces),
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason,
            latency_ms=int((time.monotonic() - started) * 1000),
            ttft_ms=ttft_ms,
            tool_calls=tool_calls.result(),
        )


def moderate(
    texts: list[str], *, model: str, base_url: str | None, api_key: str, timeout: float
) -> ModerationResult:
    """The provider's moderation endpoint over `texts`, merged into one result.

    Uses the cached client for the endpoint (no SDK retries: the moderation layer decides
    what a failure means, see MODERATION_PROVIDER_FAIL_MODE). Raises `LLMError`.
    """
    client = _client(
        base_url=base_url,
        api_key=api_key,
        connect_timeout=min(timeout, 5.0),
        read_timeout=timeout,
    )
    try:
        response = client.moderations.create(input=texts, model=model)
    except Exception as exc:  # classified, or re-raised by _classify
        raise _classify(exc) from exc
    flagged: set[str] = set()
    scores: dict[str, float] = {}
    for result in response.results:
        flagged.update(
            name for name, hit in result.categories.model_dump(by_alias=True).items() if hit
        )
        for name, score in result.category_scores.model_dump(by_alias=True).items():
            if score is not None:
                scores[name] = max(score, scores.get(name, 0.0))
    return ModerationResult(
        flagged=any(r.flagged for r in response.results) or bool(flagged),
        categories=sorted(flagged),
        scores=scores,
        model=response.model or model,
    )


def embed(
    texts: list[str], *, model: str, base_url: str | None, api_key: str, timeout: float
) -> list[list[float]]:
    """The provider's `/v1/embeddings` for `texts`, in order. Raises `LLMError`.

    Uses the cached client for the endpoint; no SDK retries (the caller decides: the import
    task retries, a turn goes on with full text alone)."""
    client = _client(
        base_url=base_url,
        api_key=api_key,
        connect_timeout=min(timeout, 5.0),
        read_timeout=timeout,
    )
    try:
        response = client.embeddings.create(input=texts, model=model)
    except Exception as exc:  # classified, or re-raised by _classify
        raise _classify(exc) from exc
    vectors = sorted(response.data, key=lambda item: item.index)
    if len(vectors) != len(texts):
        raise LLMError("malformed_response", "The provider returned the wrong number of vectors.")
    return [list(item.embedding) for item in vectors]
