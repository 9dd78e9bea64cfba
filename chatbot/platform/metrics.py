"""Prometheus metrics: every series the app exports is declared here (docs/operations.md).

Names follow what LiteLLM users already read (`*_requests_total`, `*_input_tokens_total`,
`*_spend_total`, `*_time_to_first_token_seconds`...) under the `chatdesk_` prefix.

**Bounded labels only.** A label is a route name, a method, a status, a model or endpoint of
the catalogue, an error code, a task name, a category: never a user, conversation, message,
path or free text. `bounded()` folds anything outside a known set into "other";
tests/platform/test_metrics.py checks that the series count stays flat as customers grow.

**Several processes.** With `PROMETHEUS_MULTIPROC_DIR` set (before this module is imported),
prometheus-client writes each process' values to files there, and `/metrics` sums them over
every uvicorn process and Celery prefork child. The directory must be emptied when the
deployment (re)starts (compose and the Kubernetes manifests do it), or dead processes'
counters from an earlier run come back.

The engine calls the small `record_*` functions below, never prometheus-client itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily

if _dir := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(_dir, exist_ok=True)  # before the first metric opens its file there

PREFIX = "chatdesk"
OTHER = "other"

# Seconds. LLM calls and turns take seconds; HTTP requests milliseconds.
_HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LLM_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)

_HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def bounded(value: str | None, allowed: Iterable[str] | None = None, *, limit: int = 64) -> str:
    """A label value from a known set (else "other"); empty becomes "none"."""
    if not value:
        return "none"
    value = str(value)[:limit]
    if allowed is not None and value not in allowed:
        return OTHER
    return value


# --- HTTP -----------------------------------------------------------------------------------
http_requests = Counter(
    f"{PREFIX}_http_requests",
    "HTTP requests by route name (the URL pattern's name, not the path), method and status.",
    ["route", "method", "status"],
)
http_request_duration = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time to produce the response (for a stream: until it starts), by route and method.",
    ["route", "method"],
    buckets=_HTTP_BUCKETS,
)

# --- LLM (the router's record of each attempt) --------------------------------------------
llm_requests = Counter(
    f"{PREFIX}_llm_requests",
    "Provider calls sent, by model, endpoint and outcome (success or error).",
    ["model", "endpoint", "outcome"],
)
llm_input_tokens = Counter(
    f"{PREFIX}_llm_input_tokens", "Prompt tokens of successful calls.", ["model", "endpoint"]
)
llm_output_tokens = Counter(
    f"{PREFIX}_llm_output_tokens", "Completion tokens of successful calls.", ["model", "endpoint"]
)
llm_spend = Counter(
    f"{PREFIX}_llm_spend",
    "Cost of successful calls, in the catalogue's currency (LLMModel prices).",
    ["model", "endpoint"],
)
llm_api_latency = Histogram(
    f"{PREFIX}_llm_api_latency_seconds",
    "Duration of a provider call (whole stream), by model and endpoint.",
    ["model", "endpoint"],
    buckets=_LLM_BUCKETS,
)
llm_time_to_first_token = Histogram(
    f"{PREFIX}_llm_time_to_first_token_seconds",
    "Time from sending a call to its first token, successful calls.",
    ["model", "endpoint"],
    buckets=_LLM_BUCKETS,
)
llm_failures = Counter(
    f"{PREFIX}_llm_failures",
    "Failed or unsent attempts by error code (rate_limited, timeout, breaker_open, ...).",
    ["model", "endpoint", "error_code"],
)
llm_retries = Counter(
    f"{PREFIX}_llm_retries",
    "Calls that repeat a failed call on the same model.",
    ["model", "endpoint"],
)
llm_fallbacks = Counter(
    f"{PREFIX}_llm_fallbacks",
    "Replies answered by a model other than the route's primary (the model that answered).",
    ["model"],
)
llm_breaker_state = Gauge(
    f"{PREFIX}_llm_breaker_state",
    "Circuit breaker per endpoint as last seen by any process: 0 closed, 1 half-open, 2 open.",
    ["endpoint"],
    multiprocess_mode="mostrecent",
)
llm_cache_hits = Counter(f"{PREFIX}_llm_cache_hits", "Eligible replies answered from the cache.")
llm_cache_misses = Counter(
    f"{PREFIX}_llm_cache_misses", "Eligible replies not found in the response cache."
)

# --- Conversations ----------------------------------------------------------------------
replies = Counter(
    f"{PREFIX}_replies",
    "Bot replies by how the turn ended: completed, cached, failed, refused, merged, replaced.",
    ["outcome"],
)
reply_failures = Counter(
    f"{PREFIX}_reply_failures", "Failed replies by error code.", ["error_code"]
)
reply_duration = Histogram(
    f"{PREFIX}_reply_duration_seconds",
    "From the claim to the reply's final write, by outcome.",
    ["outcome"],
    buckets=_LLM_BUCKETS,
)
moderation_flags = Counter(
    f"{PREFIX}_moderation_flags",
    "Moderation flags by source (input/output), category and action.",
    ["source", "category", "action"],
)
# Conversation KPIs: handoff and inbox, feedback, knowledge base, tools (each filled by its
# own package; the names were fixed first so dashboards and alerts could be written early).
handoffs = Counter(
    f"{PREFIX}_handoffs",
    "Handoffs to a person, by who asked (reason): widget, message, tool, policy, staff.",
    ["reason"],
)
handoff_pickup = Histogram(
    f"{PREFIX}_handoff_pickup_seconds",
    "From a handoff request to an agent taking the conversation.",
    buckets=(10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
)
csat_ratings = Counter(
    f"{PREFIX}_csat_ratings",
    "Conversation ratings (CSAT) by score: up or down (thumbs, docs/handoff.md).",
    ["score"],
)
helpfulness_votes = Counter(f"{PREFIX}_helpfulness_votes", "Per-reply votes: up or down.", ["vote"])
kb_answers = Counter(
    f"{PREFIX}_kb_answers",
    "Knowledge-base answers: cited, uncited, dont_know (no source, no model call) or "
    "unsupported (knowledge-only mode, cited no given source).",
    ["result"],
)
tool_calls = Counter(
    f"{PREFIX}_tool_calls",
    "Tool calls by tool and outcome (tool names are the managers' catalogue: bounded).",
    ["tool", "outcome"],
)

# --- Celery -------------------------------------------------------------------------------
celery_tasks = Counter(
    f"{PREFIX}_celery_tasks",
    "Celery tasks run, by task name and final state (SUCCESS, FAILURE, RETRY, ...).",
    ["task", "state"],
)


# ----------------------------------------------------------------------------- recorders
# Metrics never break the work they measure: callers may rely on these not raising.

_BREAKER_VALUES = {"closed": 0, "half_open": 1, "open": 2}


def record_llm_attempt(
    *,
    model: str,
    endpoint: str,
    outcome: str,
    error_code: str = "",
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    cost: float = 0.0,
    retry: bool = False,
) -> None:
    """One row of the router's ledger. `outcome`: success, error, skipped, breaker_open."""
    model, endpoint = bounded(model), bounded(endpoint)
    try:
        if outcome in ("success", "error"):
            llm_requests.labels(model, endpoint, outcome).inc()
            if retry:
                llm_retries.labels(model, endpoint).inc()
            if latency_ms is not None:
                llm_api_latency.labels(model, endpoint).observe(latency_ms / 1000)
        if outcome == "success":
            if ttft_ms is not None:
                llm_time_to_first_token.labels(model, endpoint).observe(ttft_ms / 1000)
            if prompt_tokens:
                llm_input_tokens.labels(model, endpoint).inc(prompt_tokens)
            if completion_tokens:
                llm_output_tokens.labels(model, endpoint).inc(completion_tokens)
            if cost:
                llm_spend.labels(model, endpoint).inc(float(cost))
        else:
            llm_failures.labels(model, endpoint, bounded(error_code or outcome)).inc()
    except Exception:  # noqa: S110 - a metric must never fail a reply
        pass


def record_tool_call(*, tool: str, outcome: str) -> None:
    """One tool call's end (chatbot.tools): succeeded, failed, timed_out, refused..."""
    try:  # noqa: SIM105 - the same shape as every recorder here
        tool_calls.labels(bounded(tool), bounded(outcome)).inc()
    except Exception:  # noqa: S110 - a metric must never fail a reply
        pass


def record_llm_fallback(*, model: str) -> None:
    llm_fallbacks.labels(bounded(model)).inc()


def record_breaker_state(*, endpoint: str, state: str) -> None:
    llm_breaker_state.labels(bounded(endpoint)).set(_BREAKER_VALUES.get(state, 0))


def record_cache_probe(*, hit: bool) -> None:
    (llm_cache_hits if hit else llm_cache_misses).inc()


def record_reply_end(*, outcome: str, error_code: str = "", seconds: float | None = None) -> None:
    replies.labels(bounded(outcome)).inc()
    if error_code:
        reply_failures.labels(bounded(error_code)).inc()
    if seconds is not None:
        reply_duration.labels(bounded(outcome)).observe(seconds)


def record_kb_answer(*, result: str) -> None:
    kb_answers.labels(bounded(result)).inc()


_HANDOFF_SOURCES = frozenset({"widget", "message", "tool", "policy", "staff"})
_VOTES = frozenset({"up", "down"})


def record_handoff(*, source: str) -> None:
    handoffs.labels(bounded(source, _HANDOFF_SOURCES)).inc()


def record_handoff_pickup(*, seconds: float) -> None:
    handoff_pickup.observe(max(0.0, seconds))


def record_feedback(*, kind: str, vote: str) -> None:
    if kind == "csat":
        csat_ratings.labels(bounded(vote, _VOTES)).inc()
    else:
        helpfulness_votes.labels(bounded(vote, _VOTES)).inc()


def record_moderation_flag(*, source: str, category: str, action: str) -> None:
    moderation_flags.labels(bounded(source), bounded(category), bounded(action)).inc()


def record_http_request(*, route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in _HTTP_METHODS else OTHER
    http_requests.labels(route, method, str(status)).inc()
    http_request_duration.labels(route, method).observe(seconds)


def record_celery_task(*, task: str, state: str) -> None:
    celery_tasks.labels(bounded(task, limit=100), bounded(state)).inc()


# ------------------------------------------------------------------------------- export


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def multiprocess_dir_clean() -> None:
    """Empty the multiprocess directory (at deployment start, before any process writes)."""
    path = multiprocess_dir()
    if not path:
        return
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


class QueueDepthCollector:
    """Celery queue lengths read from the broker (Redis) at scrape time, so the number is
    the same whichever process is scraped. Kombu keeps a list per priority step."""

    PRIORITY_SEPARATOR = "\x06\x16"

    def __init__(self, *, broker_url: str, queues: list[str]):
        self.broker_url = broker_url
        self.queues = queues

    def collect(self):
        family = GaugeMetricFamily(
            f"{PREFIX}_celery_queue_length",
            "Tasks waiting in the broker, by queue (read at scrape time).",
            labels=["queue"],
        )
        if not self.broker_url.startswith(("redis://", "rediss://")):
            return [family]
        import redis

        client = redis.Redis.from_url(self.broker_url, socket_connect_timeout=1, socket_timeout=1)
        try:
            for queue in self.queues:
                keys = [queue] + [f"{queue}{self.PRIORITY_SEPARATOR}{p}" for p in range(1, 10)]
                pipe = client.pipeline(transaction=False)
                for key in keys:
                    pipe.llen(key)
                family.add_metric([queue], sum(pipe.execute()))
        except Exception:  # the broker is down: say nothing rather than a wrong zero
            return []
        finally:
            client.close()
        return [family]


def metrics_export(*, broker_url: str = "", queues: list[str] | None = None) -> tuple[bytes, str]:
    """The exposition text: this process, or every process of the multiprocess directory."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    text = generate_latest(registry)
    if broker_url and queues:
        scraped = CollectorRegistry()
        scraped.register(QueueDepthCollector(broker_url=broker_url, queues=queues))
        text += generate_latest(scraped)
    return text, CONTENT_TYPE_LATEST
