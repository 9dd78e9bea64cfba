"""The ledger row of a provider call (chatbot.routing.services.provider_call_create): it
stores what was given with its cost, the returned row is a saved one, and listeners to the
ledger's saves are told."""

from decimal import Decimal

import pytest
from django.db.models.signals import post_save
from django.utils import timezone

from chatbot.models import LLMEndpoint, LLMModel, ProviderCall
from chatbot.routing import services
from chatbot.routing.selectors import Hop
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

COLUMNS = [f.attname for f in ProviderCall._meta.concrete_fields if not f.primary_key]


def test_a_call_is_stored_as_given_with_its_cost(django_assert_max_num_queries):
    endpoint = LLMEndpoint.objects.create(name="local", base_url="http://127.0.0.1:9/v1")
    model = LLMModel.objects.create(
        name="priced",
        endpoint=endpoint,
        input_price_per_million=Decimal("0.15"),
        output_price_per_million=Decimal("0.60"),
    )
    reply = MessageFactory(conversation=ConversationFactory(), role="assistant")
    hop = Hop(
        model="priced",
        endpoint_key="k",
        endpoint_name="n" * 250,
        endpoint_id=endpoint.id,
        llm_model=model,
    )
    before = timezone.now()
    with django_assert_max_num_queries(1):
        call = services.provider_call_create(
            hop=hop,
            reply_id=reply.id,
            customer_id=reply.conversation.customer_id,
            attempt=2,
            outcome=ProviderCall.Outcome.SUCCESS,
            http_status=200,
            error_kind="e" * 100,
            latency_ms=812,
            ttft_ms=90,
            prompt_tokens=1000,
            completion_tokens=500,
        )
    stored = ProviderCall.objects.get(pk=call.pk)
    assert {c: getattr(stored, c) for c in COLUMNS} == {c: getattr(call, c) for c in COLUMNS}
    assert stored.cost == Decimal("0.00045000")
    assert stored.endpoint_name == "n" * 200 and stored.error_kind == "e" * 64
    assert (stored.reply_id, stored.endpoint_id, stored.attempt) == (reply.id, endpoint.id, 2)
    assert stored.created_at >= before
    assert call._state.adding is False and call._state.db == "default"
    call.save(update_fields=["http_status"])  # a saved row: updates, never inserts again
    assert ProviderCall.objects.count() == 1


def test_a_skipped_model_is_stored_without_tokens_or_cost():
    hop = Hop(model="gone", endpoint_key="k", endpoint_name="settings")
    call = services.provider_call_create(
        hop=hop,
        reply_id=None,
        customer_id=None,
        attempt=1,
        outcome=ProviderCall.Outcome.SKIPPED,
        error_kind="not_allowed",
    )
    stored = ProviderCall.objects.get(pk=call.pk)
    assert stored.cost == Decimal("0") and stored.prompt_tokens is None
    assert stored.reply_id is None and stored.endpoint_id is None
    assert stored.outcome == "skipped" and stored.error_kind == "not_allowed"


def test_a_listener_to_the_ledgers_saves_is_told():
    saved = []

    def receiver(sender, instance, created, **kwargs):
        saved.append((instance.pk, created))

    post_save.connect(receiver, sender=ProviderCall, dispatch_uid="test-ledger-listener")
    try:
        call = services.provider_call_create(
            hop=Hop(model="m", endpoint_key="k", endpoint_name="settings"),
            reply_id=None,
            customer_id=None,
            attempt=1,
            outcome=ProviderCall.Outcome.SKIPPED,
        )
    finally:
        post_save.disconnect(sender=ProviderCall, dispatch_uid="test-ledger-listener")
    assert saved == [(call.pk, True)]
