"""The only module that imports `openai`.

One SDK client per endpoint is created and reused (connection pooling); timeouts and
SDK retries are explicit. Errors are translated into `LLMError` with a stable code.
"""

import email.utils
import threading
import time

import httpx2
import openai

from .types import ChatRequest, Completion, DeltaCallback, LLMError, ModerationResult

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
        try:
            stream = self._client.chat.completions.create(
                model=request.model,
                messages=[{"role": m.role, "content": m.content} for m in request.messages],
                stream=True,
                stream_options={"include_usage": True},
                **kwargs,
            )
            with stream:
                for chunk in stream:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        prompt_tokens = chunk.usage.prompt_tokens
                        completion_tokens = chunk.usage.completion_tokens
                    for choice in chunk.choices:
                        text = choice.delta.content if choice.delta else None
                        if text:
                            if ttft_ms is None:
                                ttft_ms = int((time.monotonic() - started) * 1000)
                            pieces.append(text)
                            on_delta(text)
                        if choice.finish_reason:
                            finish_reason = choice.finish_reason
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
