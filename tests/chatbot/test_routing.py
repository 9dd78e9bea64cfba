"""Routing, retries and fallbacks, end to end in-process: the real reply flow
(`reply_generate`), the real `openai` SDK against the stub server, Postgres and Redis."""

import time
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client

from chatbot.models import LLMEndpoint, ProviderCall
from chatbot.replies.pipeline import reply_generate
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.stub_llm import CutStream, Error, Hang, Reply

from .routing_helpers import (
    FAST_RETRIES,
    apply,
    endpoint,
    ledger,
    model,
    pending_reply,
    prefer,
    published,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fast(settings):
    apply(settings, FAST_RETRIES)
    return settings


@pytest.fixture
def two_models(llm_stub, fast):
    """gpt-a on endpoint A, gpt-b on endpoint B (both the stub: separate circuits)."""
    a, b = endpoint(llm_stub, "A"), endpoint(llm_stub, "B")
    return model("gpt-a", a), model("gpt-b", b)


def models_called(stub) -> list[str]:
    return [r.model for r in stub.requests]


# --- retries ---------------------------------------------------------------------------------


def test_429_retry_after_is_honoured_then_the_same_model_answers(use_llm_stub, fast):
    """Empty catalogue: the settings endpoint, as before; the 429's Retry-After is waited."""
    use_llm_stub.script(Error(status=429, retry_after=1))
    use_llm_stub.default = Reply(text="Ships tomorrow.")
    reply = pending_reply()
    done = reply_generate(reply_id=reply.id)

    assert done.status == "completed" and done.content == "Ships tomorrow."
    first, second = use_llm_stub.requests
    assert second.received_at - first.received_at >= 1.0
    assert ledger(reply) == [
        ("gpt-4o-mini", "error", "rate_limited"),
        ("gpt-4o-mini", "success", ""),
    ]
    assert ProviderCall.objects.get(reply=reply, outcome="error").http_status == 429
    assert done.route_reason == "primary after rate_limited on gpt-4o-mini"


def test_retry_after_above_the_cap_falls_back_without_waiting(llm_stub, two_models, customer):
    prefer(customer, "gpt-a", "gpt-b")
    llm_stub.script(Error(status=429, retry_after=30), model="gpt-a")
    reply = pending_reply(customer=customer)
    started = time.monotonic()
    done = reply_generate(reply_id=reply.id)

    assert time.monotonic() - started < 3
    assert done.status == "completed" and done.model == "gpt-b"
    assert models_called(llm_stub) == ["gpt-a", "gpt-b"]
    assert "rate_limited" in done.route_reason and "retry-after too long" in done.route_reason


def test_5xx_is_retried_with_backoff_up_to_the_limit(use_llm_stub, fast):
    use_llm_stub.script(Error(status=503), times=3)
    reply = pending_reply()
    done = reply_generate(reply_id=reply.id)

    assert len(use_llm_stub.requests) == 3  # 1 + LLM_MAX_RETRIES, then no model is left
    assert done.status == "failed" and done.error_code == "provider_error"
    assert [row[1:] for row in ledger(reply)] == [("error", "provider_error")] * 3
    assert done.route_reason == "failed: provider_error x3 on gpt-4o-mini"


def test_backoff_grows_exponentially_with_full_jitter(settings):
    from chatbot.routing.router import backoff_delay

    settings.LLM_BACKOFF_BASE_SECONDS, settings.LLM_BACKOFF_MAX_SECONDS = 1.0, 4.0
    settings.LLM_RETRY_AFTER_MAX_SECONDS = 10.0
    for retry, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (5, 4.0)]:
        samples = [backoff_delay(retry, None) for _ in range(300)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # the whole range is used (full jitter)
    assert all(backoff_delay(0, 3.0) >= 3.0 for _ in range(50))  # Retry-After is a floor
    assert backoff_delay(0, 11.0) is None  # beyond the cap: do not wait, fall back


@pytest.mark.parametrize(
    ("status", "code"), [(400, "bad_request"), (401, "auth_failed"), (404, "model_not_found")]
)
def test_client_errors_are_never_retried(use_llm_stub, fast, status, code):
    use_llm_stub.script(Error(status=status), times=3)
    reply = pending_reply()
    done = reply_generate(reply_id=reply.id)

    assert len(use_llm_stub.requests) == 1
    assert done.status == "failed" and done.error_code == code


# --- fallbacks -------------------------------------------------------------------------------


def test_fallback_to_the_second_model_after_the_first_ones_retries_are_spent(
    llm_stub, two_models, customer
):
    prefer(customer, "gpt-a", "gpt-b")
    llm_stub.script(Error(status=500), model="gpt-a", times=10)
    llm_stub.script(Reply(text="From B.", prompt_tokens=1000, completion_tokens=500), model="gpt-b")
    reply = pending_reply(customer=customer)
    done = reply_generate(reply_id=reply.id)

    assert models_called(llm_stub) == ["gpt-a"] * 3 + ["gpt-b"]
    assert done.status == "completed" and done.content == "From B." and done.model == "gpt-b"
    assert done.route_reason == "fallback after provider_error x3 on gpt-a"
    calls = list(ProviderCall.objects.filter(reply=reply).order_by("attempt"))
    assert [c.attempt for c in calls] == [1, 2, 3, 4]
    assert [c.endpoint.name for c in calls] == ["A", "A", "A", "B"]
    assert {c.customer_id for c in calls} == {customer.id}
    assert all(c.cost == 0 and c.http_status == 500 for c in calls[:3])
    success = calls[3]
    assert (success.prompt_tokens, success.completion_tokens) == (1000, 500)
    # 1000 * 1.50 / 1M + 500 * 6.00 / 1M
    assert success.cost == Decimal("0.0045")
    assert success.latency_ms is not None and success.ttft_ms is not None


def test_context_length_exceeded_moves_to_a_model_with_a_larger_window(llm_stub, fast, customer):
    ep = endpoint(llm_stub, "A")
    model("small", ep, window=4096)
    model("same-size", ep, window=4096)
    model("big", ep, window=128_000)
    prefer(customer, "small", "same-size", "big")
    llm_stub.script(
        Error(
            status=400,
            code="context_length_exceeded",
            message="This model's maximum context length is 4096 tokens.",
        ),
        model="small",
    )
    reply = pending_reply(customer=customer)
    done = reply_generate(reply_id=reply.id)

    assert models_called(llm_stub) == ["small", "big"]  # not retried, smaller window skipped
    assert done.status == "completed" and done.model == "big"
    assert ledger(reply) == [
        ("small", "error", "context_length_exceeded"),
        ("same-size", "skipped", "context_window_too_small"),
        ("big", "success", ""),
    ]


def test_a_hang_past_the_read_timeout_is_retried_then_falls_back(
    llm_stub, fast, customer, settings
):
    settings.LLM_MAX_RETRIES = 1
    slow = endpoint(llm_stub, "slow", read_timeout=0.5)
    model("gpt-a", slow)
    model("gpt-b", endpoint(llm_stub, "B"))
    prefer(customer, "gpt-a", "gpt-b")
    llm_stub.script(Hang(seconds=5), model="gpt-a", times=5)
    reply = pending_reply(customer=customer)
    started = time.monotonic()
    done = reply_generate(reply_id=reply.id)

    assert time.monotonic() - started < 3.5  # two 0.5 s timeouts, not two 5 s hangs
    assert models_called(llm_stub) == ["gpt-a", "gpt-a", "gpt-b"]
    assert done.status == "completed" and done.model == "gpt-b"
    assert [row[2] for row in ledger(reply)] == ["timeout", "timeout", ""]
    assert done.route_reason == "fallback after timeout x2 on gpt-a"


def test_a_cut_stream_is_retried_and_clients_are_told_to_drop_the_partial_text(use_llm_stub, fast):
    partial = "Your parcel left our warehouse on Monday and is now with the courier, who " * 3
    use_llm_stub.script(
        CutStream(text=partial + "will deliver it", after_chunks=12, chunks=16, chunk_delay=0.01)
    )
    use_llm_stub.default = Reply(text="The whole answer, from the start.", chunks=3)
    reply = pending_reply()
    done = reply_generate(reply_id=reply.id)

    assert done.status == "completed" and done.content == "The whole answer, from the start."
    events = [
        (e, d) for e, d in published(reply.conversation_id) if d.get("reply_id") == str(reply.id)
    ]
    kinds = [e if e != "status" else d["status"] for e, d in events]
    retry_at = kinds.index("retrying")
    assert "delta" in kinds[:retry_at]  # partial text went out before the cut...
    # ...then the retried answer, whole: a client that drops the partial text shows it once.
    assert "".join(d["text"] for e, d in events[retry_at + 1 :] if e == "delta") == done.content
    assert events[retry_at][1] == {
        "reply_id": str(reply.id),
        "status": "retrying",
        "attempt": 2,
        "model": "gpt-4o-mini",
    }
    assert [row[2] for row in ledger(reply)] == ["stream_interrupted", ""]


def test_a_disallowed_model_is_skipped_and_recorded(llm_stub, two_models, customer):
    prefer(customer, "gpt-a", "gpt-b", allowed=["gpt-b"])
    reply = pending_reply(customer=customer)
    done = reply_generate(reply_id=reply.id)

    assert models_called(llm_stub) == ["gpt-b"]
    assert done.model == "gpt-b" and done.route_reason == "fallback after gpt-a not allowed"
    assert ledger(reply) == [("gpt-a", "skipped", "not_allowed"), ("gpt-b", "success", "")]


def test_when_no_named_model_is_allowed_the_allowed_ones_are_used(llm_stub, two_models, customer):
    prefer(customer, "gpt-a", allowed=["gpt-b"])
    done = reply_generate(reply_id=pending_reply(customer=customer).id)
    assert done.status == "completed" and models_called(llm_stub) == ["gpt-b"]


def test_a_model_missing_from_a_nonempty_catalogue_is_skipped(llm_stub, two_models, customer):
    prefer(customer, "gpt-unknown", "gpt-a")
    reply = pending_reply(customer=customer)
    done = reply_generate(reply_id=reply.id)
    assert done.model == "gpt-a" and models_called(llm_stub) == ["gpt-a"]
    assert ledger(reply)[0] == ("gpt-unknown", "skipped", "not_in_catalogue")


def test_the_route_is_in_the_api_message(use_llm_stub, fast, customer):
    use_llm_stub.script(Error(status=502))
    reply = pending_reply(customer=customer)
    reply_generate(reply_id=reply.id)
    listing = (
        client_for(customer).get(f"/api/v1/conversations/{reply.conversation_id}/messages/").json()
    )
    answer = listing["results"][-1]
    assert answer["route_reason"] == "primary after provider_error on gpt-4o-mini"


def test_the_offline_responder_answers_with_an_empty_catalogue_and_no_llm(settings):
    settings.OPENAI_API_KEY = settings.OPENAI_BASE_URL = ""
    reply = pending_reply()
    done = reply_generate(reply_id=reply.id)
    assert done.status == "completed" and done.model == "offline-responder"
    assert done.route_reason == "primary"
    assert ledger(reply) == [("offline-responder", "success", "")]


# --- secrets ---------------------------------------------------------------------------------


def test_the_api_key_is_stored_encrypted_and_sent_decrypted(llm_stub, fast, customer):
    ep = endpoint(llm_stub, "A", api_key="sk-live-very-secret-123")
    model("gpt-a", ep)
    prefer(customer, "gpt-a")
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key_encrypted FROM chatbot_llmendpoint WHERE id = %s", [ep.pk])
        (raw,) = cursor.fetchone()
    assert raw and "sk-live" not in raw and "very-secret" not in raw
    assert LLMEndpoint.objects.get(pk=ep.pk).api_key() == "sk-live-very-secret-123"

    reply_generate(reply_id=pending_reply(customer=customer).id)
    assert llm_stub.requests[0].api_key == "sk-live-very-secret-123"


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def staff_client():
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    return client


def test_the_admin_key_field_is_write_only(staff_client, llm_stub):
    response = staff_client.post(
        "/admin/chatbot/llmendpoint/add/",
        {
            "name": "Local vLLM",
            "base_url": llm_stub.base_url,
            "is_enabled": "on",
            "connect_timeout": "2",
            "read_timeout": "10",
            "new_api_key": "sk-admin-typed-456",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    ep = LLMEndpoint.objects.get(name="Local vLLM")
    assert ep.api_key() == "sk-admin-typed-456"
    assert "sk-admin" not in ep.api_key_encrypted

    page = staff_client.get(f"/admin/chatbot/llmendpoint/{ep.pk}/change/").content.decode()
    assert "sk-admin-typed-456" not in page and ep.api_key_encrypted not in page
    listing = staff_client.get("/admin/chatbot/llmendpoint/").content.decode()
    assert "sk-admin" not in listing and ">set<" in listing

    # Saving without typing a key keeps it; ticking "remove" clears it.
    form = {
        "name": "Local vLLM",
        "base_url": llm_stub.base_url,
        "is_enabled": "on",
        "connect_timeout": "2",
        "read_timeout": "10",
    }
    assert staff_client.post(f"/admin/chatbot/llmendpoint/{ep.pk}/change/", form).status_code == 302
    assert LLMEndpoint.objects.get(pk=ep.pk).api_key() == "sk-admin-typed-456"
    staff_client.post(
        f"/admin/chatbot/llmendpoint/{ep.pk}/change/", {**form, "clear_api_key": "on"}
    )
    assert not LLMEndpoint.objects.get(pk=ep.pk).has_api_key


@pytest.mark.parametrize("limit", ["LLM_ROUTE_BUDGET_SECONDS", "REPLY_LEASE_SECONDS"])
def test_admin_refuses_timeouts_beyond_the_route_budget_or_the_lease(staff_client, settings, limit):
    settings.LLM_ROUTE_BUDGET_SECONDS, settings.REPLY_LEASE_SECONDS = 100, 100
    setattr(settings, limit, 20)
    response = staff_client.post(
        "/admin/chatbot/llmendpoint/add/",
        {
            "name": "Too slow",
            "base_url": "",
            "is_enabled": "on",
            "connect_timeout": "5",
            "read_timeout": "30",
        },
    )
    assert response.status_code == 200 and limit.encode() in response.content
    assert not LLMEndpoint.objects.filter(name="Too slow").exists()


def test_admin_pages_render(staff_client, llm_stub, two_models, customer):
    a, _b = two_models
    prefer(customer, "gpt-a", "gpt-b")
    llm_stub.script(Error(status=500), model="gpt-a", times=3)
    reply = pending_reply(customer=customer)
    reply_generate(reply_id=reply.id)
    call = ProviderCall.objects.filter(reply=reply).first()

    for url in [
        "/admin/chatbot/llmendpoint/",
        "/admin/chatbot/llmendpoint/add/",
        f"/admin/chatbot/llmendpoint/{a.endpoint_id}/change/",
        "/admin/chatbot/llmmodel/",
        f"/admin/chatbot/llmmodel/{a.pk}/change/",
        "/admin/chatbot/providercall/",
        "/admin/chatbot/providercall/?outcome__exact=error",
        f"/admin/chatbot/providercall/{call.pk}/change/",
        f"/admin/accounts/user/{customer.pk}/change/",
    ]:
        assert staff_client.get(url).status_code == 200, url
    page = staff_client.get(
        f"/admin/conversations/conversation/{reply.conversation_id}/change/"
    ).content.decode()
    assert "fallback after provider_error x3 on gpt-a" in page
    assert "4 provider attempts" in page
