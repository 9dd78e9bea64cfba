"""The one retry layer: try the route's models in order, retrying each with backoff.

For every model of the plan (primary, then fallbacks):

* the endpoint's circuit breaker is asked first; an open circuit is recorded and skipped;
* retryable failures (429, 5xx, timeouts, connection errors, cut streams, unreadable
  answers) are retried up to LLM_MAX_RETRIES times with exponential backoff and full
  jitter, waiting at least the server's Retry-After (a Retry-After above
  LLM_RETRY_AFTER_MAX_SECONDS moves on to the next model instead of waiting);
* 400/401/404 are never retried: the next model is tried;
* `context_length_exceeded` moves to the next model with a larger context window;
* no attempt starts that could not finish within LLM_ROUTE_BUDGET_SECONDS, which stays
  below the Celery soft time limit.

Every attempt (and every skipped model) is a `ProviderCall` row and a sample of the LLM
metrics (chatbot/platform/metrics.py), recorded in `_Route.record`. The SDK never retries
(max_retries=0) and Celery never retries a model call, so attempts never multiply.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings

from ..llm import ChatRequest, Completion, LLMError, LLMProvider, OfflineResponder
from ..llm.openai_provider import OpenAIProvider  # at import: pool processes fork with it
from ..models import ProviderCall
from ..platform import metrics
from ..platform.crypto import DecryptionError
from .breaker import Decision, breaker_for
from .selectors import Hop
from .services import provider_call_create

logger = logging.getLogger(__name__)

Outcome = ProviderCall.Outcome


@dataclass(frozen=True, slots=True)
class Routed:
    completion: Completion
    route_reason: str


@dataclass(slots=True)
class RouteFailed(LLMError):
    """Every model of the route failed or was unavailable; `code` is the final reason."""

    model: str = ""
    route_reason: str = ""


def backoff_delay(retry: int, retry_after: float | None) -> float | None:
    """Seconds to wait before retry number `retry` (0-based), or None: don't wait, move on.

    Full jitter (AWS architecture blog): uniform(0, min(cap, base * 2**retry)), but never
    less than the server's Retry-After; a Retry-After above the cap is not worth waiting.
    """
    jitter = random.uniform(  # noqa: S311 - backoff jitter, not cryptography
        0,
        min(
            settings.LLM_BACKOFF_MAX_SECONDS,
            settings.LLM_BACKOFF_BASE_SECONDS * 2**retry,
        ),
    )
    if retry_after is None:
        return jitter
    if retry_after > settings.LLM_RETRY_AFTER_MAX_SECONDS:
        return None
    return max(retry_after, jitter)


def _provider(hop: Hop) -> LLMProvider:
    if hop.offline:
        return OfflineResponder(word_delay_ms=settings.OFFLINE_RESPONDER_DELAY_MS)
    api_key = hop.llm_model.endpoint.api_key() if hop.llm_model else hop.settings_api_key
    # One pooled SDK client per endpoint is cached inside openai_provider.
    return OpenAIProvider(
        base_url=hop.base_url,
        api_key=api_key,
        connect_timeout=hop.connect_timeout,
        read_timeout=hop.read_timeout,
    )


class _Route:
    """The state of one reply's route; see `route_stream`."""

    def __init__(
        self,
        *,
        request: ChatRequest,
        reply_id: uuid.UUID | None,
        customer_id: uuid.UUID | None,
        on_delta: Callable[[str], None],
        on_restart: Callable[[int, str], None],
        heartbeat: Callable[[], None],
    ):
        self.request = request
        self.reply_id = reply_id
        self.customer_id = customer_id
        self.on_delta = on_delta
        self.on_restart = on_restart
        self.heartbeat = heartbeat
        self.deadline = time.monotonic() + settings.LLM_ROUTE_BUDGET_SECONDS
        self.attempt = 0  # ledger rows so far (1-based numbering)
        self.calls = 0  # requests actually sent
        self.notes: list[str] = []  # why earlier models did not answer, for route_reason
        self.last_error: LLMError | None = None
        self.last_model = request.model
        self.breaker_open_seen = False
        self.context_exceeded_on: Hop | None = None
        self.out_of_time = False
        self.retrying = False  # the call about to be sent repeats a failed one on its model

    def record(self, hop: Hop, outcome: str, **fields) -> None:
        self.attempt += 1
        call = provider_call_create(
            hop=hop,
            reply_id=self.reply_id,
            customer_id=self.customer_id,
            attempt=self.attempt,
            outcome=outcome,
            **fields,
        )
        metrics.record_llm_attempt(
            model=hop.model,
            endpoint=hop.endpoint_name,
            outcome=outcome,
            error_code=fields.get("error_kind", ""),
            latency_ms=fields.get("latency_ms"),
            ttft_ms=fields.get("ttft_ms"),
            prompt_tokens=fields.get("prompt_tokens"),
            completion_tokens=fields.get("completion_tokens"),
            cost=call.cost,
            retry=self.retrying,
        )

    def try_hop(self, hop: Hop, min_window: int) -> Completion | None:
        """Every allowed attempt on one model; the completion, or None to move on."""
        if hop.skip_reason:
            self.record(hop, Outcome.SKIPPED, error_kind=hop.skip_reason)
            self.notes.append(f"{hop.model} {hop.skip_reason.replace('_', ' ')}")
            return None
        if min_window and hop.context_window is not None and hop.context_window <= min_window:
            self.record(hop, Outcome.SKIPPED, error_kind="context_window_too_small")
            self.notes.append(f"{hop.model} context window too small")
            return None
        try:
            provider = _provider(hop)
        except DecryptionError:
            logger.error(
                "endpoint %s: API key cannot be decrypted (FIELD_ENCRYPTION_KEY "
                "changed?); re-enter it in the admin",
                hop.endpoint_name,
            )
            self.record(hop, Outcome.SKIPPED, error_kind="key_undecryptable")
            self.notes.append(f"{hop.model} key undecryptable")
            return None
        breaker = (
            None
            if hop.offline
            else breaker_for(hop.endpoint_key, probe_ttl=hop.connect_timeout + hop.read_timeout + 5)
        )
        errors: list[str] = []
        for retry in range(settings.LLM_MAX_RETRIES + 1):
            # Renew the lease before every call (before asking the breaker, so losing the
            # lease can never strand a probe): preparing the route or waiting on a failed
            # attempt must not let the sweeper hand the reply to another worker.
            self.heartbeat()
            decision = breaker.acquire() if breaker else Decision.ALLOW
            if breaker and decision != Decision.ALLOW:
                metrics.record_breaker_state(
                    endpoint=hop.endpoint_name,
                    state="open" if decision == Decision.OPEN else "half_open",
                )
            if decision == Decision.OPEN:
                self.breaker_open_seen = True
                self.record(hop, Outcome.BREAKER_OPEN, error_kind="breaker_open")
                errors.append("circuit open")
                break
            if time.monotonic() + hop.connect_timeout + hop.read_timeout > self.deadline:
                if breaker and decision == Decision.PROBE:
                    breaker.release_probe()
                self.out_of_time = True
                self.record(hop, Outcome.SKIPPED, error_kind="route_budget_spent")
                errors.append("route budget spent")
                break
            if self.calls:
                try:
                    self.on_restart(self.attempt + 1, hop.model)
                except BaseException:
                    if breaker and decision == Decision.PROBE:
                        breaker.release_probe()
                    raise
            self.retrying = retry > 0
            completion = self._call(hop, provider, breaker, decision)
            if completion is not None:
                if errors:
                    self.notes.append(self._note(hop.model, errors))
                return completion
            error = self.last_error
            errors.append(error.code)
            if error.code == "context_length_exceeded":
                self.context_exceeded_on = hop
                break
            if not error.retryable:
                break
            if retry == settings.LLM_MAX_RETRIES:
                break
            wait = backoff_delay(retry, error.retry_after)
            if wait is None:
                errors.append("retry-after too long")
                break
            if time.monotonic() + wait + hop.connect_timeout + hop.read_timeout > self.deadline:
                break
            self.heartbeat()  # the wait must not outlast the lease
            time.sleep(wait)
        if errors:
            self.notes.append(self._note(hop.model, errors))
        return None

    @staticmethod
    def _note(model: str, errors: list[str]) -> str:
        counted: dict[str, int] = {}
        for code in errors:
            counted[code] = counted.get(code, 0) + 1
        what = ", ".join(f"{c} x{n}" if n > 1 else c for c, n in counted.items())
        return f"{what} on {model}"

    def _call(
        self, hop: Hop, provider: LLMProvider, breaker, decision: Decision
    ) -> Completion | None:
        self.calls += 1
        self.last_model = hop.model
        started = time.monotonic()
        try:
            request = dataclasses.replace(self.request, model=hop.model)
            if request.tools and not hop.supports_tools:
                request = dataclasses.replace(request, tools=())  # asked to answer in words
            completion = provider.stream(request, self.on_delta)
        except LLMError as error:
            latency = int((time.monotonic() - started) * 1000)
            if breaker:
                # Retryable failures (429, 5xx, timeouts, cut streams...) say something about
                # the endpoint's health; a 400/401/404 proves it is up: an answer.
                if error.retryable:
                    breaker.record_failure(probe=decision == Decision.PROBE)
                    metrics.record_breaker_state(endpoint=hop.endpoint_name, state=breaker.state())
                elif decision == Decision.PROBE:
                    breaker.record_success()
                    metrics.record_breaker_state(endpoint=hop.endpoint_name, state="closed")
            self.record(
                hop,
                Outcome.ERROR,
                http_status=error.status,
                error_kind=error.code,
                latency_ms=latency,
            )
            self.last_error = error
            return None
        except BaseException:
            # Lease lost, soft time limit, worker shutdown: not the endpoint's fault.
            if breaker and decision == Decision.PROBE:
                breaker.release_probe()
            self.record(
                hop,
                Outcome.ERROR,
                error_kind="aborted",
                latency_ms=int((time.monotonic() - started) * 1000),
            )
            raise
        if breaker and decision == Decision.PROBE:
            # Only a probe closes a tripped circuit; an ordinary call's success would be a
            # wasted round trip, or would cut short a cool-down another worker just began.
            breaker.record_success()
            metrics.record_breaker_state(endpoint=hop.endpoint_name, state="closed")
        self.record(
            hop,
            Outcome.SUCCESS,
            http_status=None if hop.offline else 200,
            latency_ms=completion.latency_ms,
            ttft_ms=completion.ttft_ms,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
        )
        return completion


def route_stream(
    *,
    hops: list[Hop],
    request: ChatRequest,
    reply_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    on_delta: Callable[[str], None],
    on_restart: Callable[[int, str], None] = lambda _attempt, _model: None,
    heartbeat: Callable[[], None] = lambda: None,
) -> Routed:
    """Stream an answer from the first model of `hops` that gives one.

    `on_restart(attempt, model)` runs before every attempt after a failed one (deltas of
    the failed attempt may already have been shown: the caller tells clients to discard
    them). `heartbeat()` runs before every wait and new attempt (the caller extends its
    lease; it may raise to abandon the route). Raises `RouteFailed`.
    """
    route = _Route(
        request=request,
        reply_id=reply_id,
        customer_id=customer_id,
        on_delta=on_delta,
        on_restart=on_restart,
        heartbeat=heartbeat,
    )
    min_window = 0
    primary = hops[0].model if hops else None
    for hop in hops:
        if route.out_of_time:
            break
        completion = route.try_hop(hop, min_window)
        if completion is not None:
            if hop.model == primary and not route.notes:
                reason = "primary"
            elif hop.model == primary:
                reason = "primary after " + "; ".join(route.notes)
            else:
                reason = "fallback after " + "; ".join(route.notes)
                metrics.record_llm_fallback(model=hop.model)
            return Routed(completion=completion, route_reason=reason)
        if route.context_exceeded_on is hop:
            # Only a model that can read more is worth trying next.
            min_window = max(min_window, hop.context_window or 0)

    notes = "; ".join(route.notes) or "no model to try"
    if route.calls == 0 and route.breaker_open_seen:
        raise RouteFailed(
            "all_providers_unavailable",
            "Every endpoint of the route has an open circuit.",
            model=route.last_model,
            route_reason=f"failed: {notes}",
        )
    if route.last_error is not None:
        error = route.last_error
        raise RouteFailed(
            error.code,
            error.message,
            status=error.status,
            model=route.last_model,
            route_reason=f"failed: {notes}",
        )
    code = "route_budget_spent" if route.out_of_time else "no_model_available"
    raise RouteFailed(
        code,
        "No model could be tried for this reply.",
        model=route.last_model,
        route_reason=f"failed: {notes}",
    )
