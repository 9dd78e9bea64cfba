"""Writes for routing: the provider-call ledger and endpoint secrets."""

import functools
import logging
import uuid
from decimal import Decimal

from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save

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
    # The prebuilt INSERT sends no save signals: the ORM saves the row if anything listens.
    listened = pre_save.has_listeners(ProviderCall) or post_save.has_listeners(ProviderCall)
    if connection.vendor == "postgresql" and not listened:
        _provider_call_insert(call)
    else:
        call.save(force_insert=True)
    return call


@functools.cache
def _insert_statement() -> tuple[str, tuple]:
    """The ledger's INSERT, built once per process (Postgres): a row per provider call is
    on every turn's path, and the ORM compiled the same statement each time."""
    q = connection.ops.quote_name
    meta = ProviderCall._meta
    fields = tuple(f for f in meta.local_concrete_fields if not f.primary_key)
    # Identifiers come from the model's metadata; every value is a query parameter.
    sql = (
        f"INSERT INTO {q(meta.db_table)} ({', '.join(q(f.column) for f in fields)}) "  # noqa: S608 # nosec B608
        f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {q(meta.pk.column)}"
    )
    return sql, fields


def _provider_call_insert(call: ProviderCall) -> None:
    """Insert the row as `save()` would (auto_now_add stamped, values prepared by their
    fields), without compiling the statement; sets the new id."""
    sql, fields = _insert_statement()
    params = [field.get_db_prep_save(field.pre_save(call, True), connection) for field in fields]
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        call.pk = cursor.fetchone()[0]
    call._state.adding = False
    call._state.db = connection.alias


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
