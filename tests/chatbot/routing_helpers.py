"""Building replies, catalogue rows and reading the ledger for the routing/breaker tests."""

import json
import time
from decimal import Decimal

import redis
from django.conf import settings

from accounts.models import ModelPreference
from chatbot.models import LLMEndpoint, LLMModel, ProviderCall
from chatbot.routing.services import llm_endpoint_set_api_key
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory

# Small numbers so retries and fallbacks take milliseconds, not seconds.
FAST_RETRIES = {
    "LLM_MAX_RETRIES": 2,
    "LLM_BACKOFF_BASE_SECONDS": 0.01,
    "LLM_BACKOFF_MAX_SECONDS": 0.05,
    "LLM_RETRY_AFTER_MAX_SECONDS": 3.0,
}


def apply(settings_fixture, values: dict) -> None:
    for key, value in values.items():
        setattr(settings_fixture, key, value)


def pending_reply(*, customer=None, content: str = "Where is my parcel?") -> Message:
    """A customer's question and its pending reply, as `message_send` leaves them."""
    conversation = ConversationFactory(customer=customer or UserFactory())
    question = MessageFactory(conversation=conversation, content=content)
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        reply_to=question,
    )


def prefer(customer, model: str, *fallbacks: str, allowed=()) -> ModelPreference:
    pref = ModelPreference.objects.create(
        user=customer, model=model, fallback_models=list(fallbacks)
    )
    if allowed:
        pref.allowed_models.set(LLMModel.objects.filter(name__in=allowed))
    return pref


def endpoint(
    stub,
    name: str,
    *,
    api_key: str = "sk-test",
    connect_timeout: float = 1.0,
    read_timeout: float = 2.0,
) -> LLMEndpoint:
    ep = LLMEndpoint(
        name=name,
        base_url=stub.base_url,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
    llm_endpoint_set_api_key(endpoint=ep, api_key=api_key)
    ep.save()
    return ep


def model(
    name: str,
    ep: LLMEndpoint,
    *,
    window: int = 8192,
    price_in: str = "1.50",
    price_out: str = "6.00",
) -> LLMModel:
    return LLMModel.objects.create(
        name=name,
        endpoint=ep,
        context_window=window,
        input_price_per_million=Decimal(price_in),
        output_price_per_million=Decimal(price_out),
    )


def ledger(reply) -> list[tuple[str, str, str]]:
    """(model, outcome, error_kind) of each attempt, in order."""
    return list(
        ProviderCall.objects.filter(reply=reply)
        .order_by("attempt")
        .values_list("model", "outcome", "error_kind")
    )


def published(conversation_id) -> list[tuple[str, dict]]:
    client = redis.Redis.from_url(settings.EVENT_BUS_URL)
    entries = client.xrange(f"chatdesk:events:{conversation_id}")
    return [(fields[b"e"].decode(), json.loads(fields[b"d"])) for _id, fields in entries]


def wait_for_reply(reply_id, *, timeout: float = 20) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = Message.objects.get(pk=reply_id)
        if reply.status in ("completed", "failed"):
            return reply
        time.sleep(0.05)
    raise AssertionError(f"reply {reply_id} still {reply.status} after {timeout}s")
