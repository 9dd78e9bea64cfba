"""Writes for routing: the provider-call ledger and endpoint secrets."""

import logging
import uuid
from decimal import Decimal

from django.core.cache import cache
from django.db import transaction

from ..models import LLMEndpoint, ProviderCall
from ..platform import crypto
from .selectors import CATALOGUE_CACHE_KEY, Hop

logger = logging.getLogger(__name__)


def provider_call_create(
    *,
    hop: Hop,
    reply_id: uuid.UUID | None,
    customer_id: uuid.UUID | None,
    attempt: int,
    outcome: str,
    http_status: int | None = None,
    error_kind: str = "",
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
) -> ProviderCall:
    cost = Decimal("0")
    if hop.llm_model is not None and (prompt_tokens or completion_tokens):
        cost = hop.llm_model.cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
    call = ProviderCall(
        reply_id=reply_id,
        customer_id=customer_id,
        endpoint_id=hop.endpoint_id,
        endpoint_name=hop.endpoint_name[:200],
        model=hop.model[:200],
        attempt=attempt,
        outcome=outcome,
        http_status=http_status,
        error_kind=error_kind[:64],
        latency_ms=latency_ms,
        ttft_ms=ttft_ms,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost=cost,
    )
    call.save(force_insert=True)
    return call


def llm_endpoint_set_api_key(
    *, endpoint: LLMEndpoint, api_key: str, save: bool = True
) -> LLMEndpoint:
    """Store the key encrypted (or clear it with ""); the plaintext is never saved.

    `save=False` only sets the field, for a caller that saves the whole row itself."""
    endpoint.api_key_encrypted = crypto.encrypt(api_key) if api_key else ""
    if save and endpoint.pk:
        endpoint.save(update_fields=["api_key_encrypted", "updated_at"])
    return endpoint


def catalogue_cache_forget() -> None:
    """Drop the cached catalogue (chatbot.routing.selectors.catalogue_windows) now and when
    the current transaction commits. Called whenever a model or an endpoint changes."""

    def forget() -> None:
        try:
            cache.delete(CATALOGUE_CACHE_KEY)
        except Exception:  # Redis down: the entry expires after PREFERENCE_CACHE_SECONDS
            logger.warning("could not drop the cached catalogue", exc_info=True)

    forget()
    transaction.on_commit(forget)
