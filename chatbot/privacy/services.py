"""GDPR writes: erasure (Art. 17).

The user row is deleted, not anonymised: everything that is theirs cascades with it
(conversations, messages, moderation flags, tokens, model preference), and rows that must
outlive them as anonymous figures (the provider-call ledger) point at them with SET_NULL.
What survives is an `ErasureRecord` with counts per kind and no personal data.
"""

import logging
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from accounts.audit import audit_event_record, audit_events_unlink
from accounts.errors import ErasureNotAllowed
from accounts.models import AuditEvent, ErasureRecord, User
from chatbot.platform.event_bus import event_streams_delete
from chatbot.platform.throttling import USER_SCOPES, rate_keys_forget
from conversations.models import Conversation

from .selectors import related_relations

logger = logging.getLogger(__name__)


def _detached_counts(user: User, conversation_ids: list) -> dict[str, int]:
    """Rows that survive the erasure with their link to the person set to NULL."""
    counts: Counter[str] = Counter()
    targets: list[tuple[type, list]] = [(User, [user.pk]), (Conversation, conversation_ids)]
    for model, ids in targets:
        if not ids:
            continue
        for rel in related_relations(model):
            if rel.on_delete.__name__ != "SET_NULL":
                continue
            n = rel.related_model._default_manager.filter(**{f"{rel.field.name}__in": ids}).count()
            if n:
                counts[rel.related_model._meta.label] += n
    return dict(counts)


def _forget_outside_database(conversation_ids: list[str], user_id: str) -> None:
    """After commit: live events and rate-limit counters in Redis, then any configured hooks
    (e.g. response caches). Best effort: what is left expires on its own (counters within
    their rate's window)."""
    event_streams_delete(conversation_ids)
    try:
        rate_keys_forget(scopes=USER_SCOPES, ident=user_id)
    except Exception:
        logger.exception("could not delete the rate-limit counters of an erased user")
    for path in settings.PRIVACY_ERASURE_HOOKS:
        try:
            import_string(path)(customer_id=user_id, conversation_ids=conversation_ids)
        except Exception:
            logger.exception("erasure hook %s failed", path)


def user_erase(*, user: User, route: str, actor: User | None = None) -> ErasureRecord:
    """Erase everything held about `user`; return the (anonymous) record of the erasure."""
    if user.is_staff or user.is_superuser:
        raise ErasureNotAllowed(
            "Staff accounts cannot be erased this way; an administrator "
            "must demote the account first."
        )
    with transaction.atomic():
        # Lock the row: two concurrent requests erase once; the second finds nothing.
        locked = User.objects.select_for_update().filter(pk=user.pk).first()
        if locked is None:
            raise ErasureNotAllowed(
                "This account no longer exists.", code="already_erased", status_code=404
            )
        conversation_ids = [
            str(pk)
            for pk in Conversation.objects.filter(customer=locked).values_list("pk", flat=True)
        ]
        detached = _detached_counts(locked, conversation_ids)
        _total, deleted = locked.delete()
        counts: dict[str, Any] = {"deleted": deleted, "detached": detached}
        record = ErasureRecord.objects.create(route=route, counts=counts)
        # Earlier audit rows about this person now point at the erasure, not at them.
        replacement = f"erasure:{record.pk}"
        audit_events_unlink(target_type="user", target_ids=[user.pk], replacement=replacement)
        audit_events_unlink(
            target_type="conversation", target_ids=conversation_ids, replacement=replacement
        )
        audit_event_record(
            actor=actor,
            action=AuditEvent.Action.USER_ERASE,
            target_type="erasure",
            target_id=record.pk,
            detail={"route": route, **counts},
        )
        user_id = str(user.pk)
        transaction.on_commit(lambda: _forget_outside_database(conversation_ids, user_id))
    logger.info("erasure %s done (%s)", record.pk, route)
    return record
