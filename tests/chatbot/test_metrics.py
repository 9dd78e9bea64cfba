"""Prometheus metrics after scripted turns (eager, in-process): the counts are right, the
endpoint is protected, and the number of series does not grow with the number of customers.

The multiprocess case (two uvicorn processes and a prefork worker): test_metrics_multiprocess.py.
"""

import re
import uuid

import pytest
from prometheus_client import REGISTRY

from conversations.models import Conversation, Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory
from tests.stub_llm import Error, Reply

pytestmark = pytest.mark.django_db


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _key(name: str, **labels) -> str:
    return f"{name}{sorted(labels.items())}"


class Counts:
    """Sample values now, to compare with after (the registry lives as long as the process)."""

    def __init__(self, *wanted: tuple[str, dict]):
        self.wanted = wanted
        self.before = {_key(n, **ls): value(n, **ls) for n, ls in wanted}

    def delta(self) -> dict[str, float]:
        return {_key(n, **ls): value(n, **ls) - self.before[_key(n, **ls)] for n, ls in self.wanted}


def _want(name, **labels):
    return (name, labels)


@pytest.fixture
def stub_endpoint(use_llm_stub, settings):
    settings.LLM_BACKOFF_BASE_SECONDS = 0.01
    settings.LLM_BACKOFF_MAX_SECONDS = 0.01
    return use_llm_stub.base_url.split("//", 1)[1].split("/", 1)[0]  # the hop's endpoint name


def test_counters_after_a_scripted_set_of_turns(settings, stub_endpoint, use_llm_stub, send_now):
    model = settings.LLM_MODEL
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    settings.LLM_FALLBACK_MODELS = ["backup-model"]
    settings.LLM_MAX_RETRIES = 1
    ep = stub_endpoint
    wanted = [
        _want("chatdesk_replies_total", outcome="completed"),
        _want("chatdesk_replies_total", outcome="failed"),
        _want("chatdesk_replies_total", outcome="refused"),
        _want("chatdesk_llm_requests_total", model=model, endpoint=ep, outcome="success"),
        _want("chatdesk_llm_requests_total", model=model, endpoint=ep, outcome="error"),
        _want("chatdesk_llm_requests_total", model="backup-model", endpoint=ep, outcome="success"),
        _want("chatdesk_llm_input_tokens_total", model=model, endpoint=ep),
        _want("chatdesk_llm_output_tokens_total", model=model, endpoint=ep),
        _want("chatdesk_llm_retries_total", model=model, endpoint=ep),
        _want("chatdesk_llm_failures_total", model=model, endpoint=ep, error_code="provider_error"),
        _want("chatdesk_llm_failures_total", model=model, endpoint=ep, error_code="bad_request"),
        _want("chatdesk_llm_fallbacks_total", model="backup-model"),
        _want("chatdesk_llm_time_to_first_token_seconds_count", model=model, endpoint=ep),
        _want(
            "chatdesk_moderation_flags_total",
            source="input",
            category="blocked_term",
            action="blocked",
        ),
    ]
    counts = Counts(*wanted)

    # 1. A plain answer: 10 tokens in, 5 out.
    use_llm_stub.script(Reply(text="It ships tomorrow.", prompt_tokens=10, completion_tokens=5))
    send_now(ConversationFactory(), "Where is my parcel?")
    # 2. A 500, retried on the same model, then answered: one retry, one failure.
    use_llm_stub.script(Error(status=500))
    use_llm_stub.script(Reply(text="Sorry for the wait.", prompt_tokens=7, completion_tokens=3))
    send_now(ConversationFactory(), "Hello?")
    # 3. A 400 on the primary (never retried), answered by the fallback model.
    use_llm_stub.script(Error(status=400), model=model)
    use_llm_stub.script(Reply(text="From the backup."), model="backup-model")
    send_now(ConversationFactory(), "Are you there?")
    # 4. Both models fail for good: a failed reply.
    use_llm_stub.script(Error(status=400), times=2)
    failed = send_now(ConversationFactory(), "Anyone?")
    # 5. A blocked message: refused before any call.
    send_now(ConversationFactory(), "say forbidden-word")

    failed_code = Message.objects.get(pk=failed.reply.id).error_code
    assert failed_code == "bad_request"
    d = counts.delta()
    got = {k: v for k, v in d.items() if v}
    assert got == {
        "chatdesk_replies_total[('outcome', 'completed')]": 3,
        "chatdesk_replies_total[('outcome', 'failed')]": 1,
        "chatdesk_replies_total[('outcome', 'refused')]": 1,
        f"chatdesk_llm_requests_total[('endpoint', '{ep}'), ('model', '{model}'), "
        "('outcome', 'success')]": 2,
        f"chatdesk_llm_requests_total[('endpoint', '{ep}'), ('model', '{model}'), "
        "('outcome', 'error')]": 3,
        f"chatdesk_llm_requests_total[('endpoint', '{ep}'), ('model', 'backup-model'), "
        "('outcome', 'success')]": 1,
        f"chatdesk_llm_input_tokens_total[('endpoint', '{ep}'), ('model', '{model}')]": 17,
        f"chatdesk_llm_output_tokens_total[('endpoint', '{ep}'), ('model', '{model}')]": 8,
        f"chatdesk_llm_retries_total[('endpoint', '{ep}'), ('model', '{model}')]": 1,
        f"chatdesk_llm_failures_total[('endpoint', '{ep}'), ('error_code', 'provider_error'), "
        f"('model', '{model}')]": 1,
        f"chatdesk_llm_failures_total[('endpoint', '{ep}'), ('error_code', 'bad_request'), "
        f"('model', '{model}')]": 2,
        "chatdesk_llm_fallbacks_total[('model', 'backup-model')]": 1,
        f"chatdesk_llm_time_to_first_token_seconds_count[('endpoint', '{ep}'), "
        f"('model', '{model}')]": 2,
        "chatdesk_moderation_flags_total[('action', 'blocked'), ('category', 'blocked_term'), "
        "('source', 'input')]": 1,
    }
    assert value("chatdesk_reply_failures_total", error_code="bad_request") >= 1


def test_response_cache_hits_and_misses_are_counted(settings, use_llm_stub, send_now):
    settings.LLM_TEMPERATURE = 0.0
    question = f"What are your opening hours? {uuid.uuid4().hex[:6]}"
    hits, misses = value("chatdesk_llm_cache_hits_total"), value("chatdesk_llm_cache_misses_total")
    cached = value("chatdesk_replies_total", outcome="cached")
    use_llm_stub.script(Reply(text="Nine to five."))
    send_now(ConversationFactory(), question)
    send_now(ConversationFactory(), question)
    assert value("chatdesk_llm_cache_misses_total") - misses == 1
    assert value("chatdesk_llm_cache_hits_total") - hits == 1
    assert value("chatdesk_replies_total", outcome="cached") - cached == 1


def test_http_requests_are_counted_by_route_name_not_path(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    before = value("chatdesk_http_requests_total", route="healthz", method="GET", status="200")
    missing = value("chatdesk_http_requests_total", route="unmatched", method="GET", status="404")
    client.get("/healthz")
    client.get("/healthz")
    client.get(f"/no-such-page-{uuid.uuid4().hex}")
    assert value("chatdesk_http_requests_total", route="healthz", method="GET", status="200") == (
        before + 2
    )
    assert (
        value("chatdesk_http_requests_total", route="unmatched", method="GET", status="404")
        == missing + 1
    )


# --- the endpoint --------------------------------------------------------------------------


def test_metrics_need_the_bearer_token_when_one_is_set(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    assert response.status_code == 200
    assert b"# TYPE chatdesk_replies_total counter" in response.content


def test_metrics_are_absent_without_a_token_unless_debug(client, settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert client.get("/metrics").status_code == 404
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


def test_queue_depth_is_read_from_the_broker_at_scrape_time(client, settings):
    import redis

    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    settings.CELERY_TASK_ALWAYS_EAGER = False  # as in production: tasks go to the broker
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete(queue, f"{queue}\x06\x163")
    try:
        broker.rpush(queue, "a", "b")
        broker.rpush(f"{queue}\x06\x163", "c")  # a priority step's list
        text = client.get("/metrics").content.decode()
    finally:
        broker.delete(queue, f"{queue}\x06\x163")
    assert f'chatdesk_celery_queue_length{{queue="{queue}"}} 3.0' in text


# --- cardinality --------------------------------------------------------------------------


def _series(text: str) -> set[str]:
    return {
        line.rsplit(" ", 1)[0]
        for line in text.splitlines()
        if line.startswith("chatdesk_") and not line.startswith("#")
    }


def _turns_through_the_api(customers: int, django_capture_on_commit_callbacks) -> None:
    for _ in range(customers):
        user = UserFactory()
        client = client_for(user)
        conversation = Conversation.objects.create(customer=user)
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                f"/api/v1/conversations/{conversation.id}/messages/",
                {"content": f"Where is order {uuid.uuid4().hex[:8]}?"},
                format="json",
            )
        assert response.status_code == 202, response.content
        client.get(f"/api/v1/conversations/{conversation.id}/messages/")


def test_series_stay_flat_as_customers_grow(
    client, settings, use_llm_stub, django_capture_on_commit_callbacks
):
    """3 customers or 30: the same series (no user, conversation or message labels)."""
    settings.METRICS_TOKEN = ""
    settings.DEBUG = True
    _turns_through_the_api(1, django_capture_on_commit_callbacks)  # every series once
    client.get("/metrics")
    _turns_through_the_api(3, django_capture_on_commit_callbacks)
    after_3 = _series(client.get("/metrics").content.decode())
    _turns_through_the_api(30, django_capture_on_commit_callbacks)
    after_30 = _series(client.get("/metrics").content.decode())
    assert after_30 == after_3
    assert len(after_3) > 20
    assert not any(re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", s) for s in after_30)
