"""The audit trail of staff actions on customer data (service + selector).

Details are small and never contain message bodies or other free text typed by customers:
callers pass ids, counts and field *names*, not values.
"""

import logging
import uuid
from collections.abc import Iterable
from typing import Any

from .models import AuditEvent, User

logger = logging.getLogger(__name__)

# Detail values are clipped: the trail is for "who did what to which record", not content.
_MAX_DETAIL_STR = 200


def _clip(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_DETAIL_STR]
    if isinstance(value, dict):
        return {str(k)[:_MAX_DETAIL_STR]: _clip(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clip(v) for v in value][:50]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def audit_event_record(
    *,
    actor: User | None,
    action: str,
    target_type: str = "",
    target_id: Any = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one row. `actor=None` means the system (a task, or the customer themselves)."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    event = AuditEvent.objects.create(
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=str(target_id or "")[:64],
        detail=_clip(detail or {}),
    )
    logger.info(
        "audit %s %s %s by %s",
        action,
        target_type,
        event.target_id,
        actor.pk if actor else "system",
    )
    return event


def audit_events_unlink(*, target_type: str, target_ids: Iterable[Any], replacement: str) -> int:
    """Re-point rows about erased records at `replacement` (an erasure id), so the trail of
    what staff did survives while no row links back to the erased person."""
    ids = [str(i) for i in target_ids]
    if not ids:
        return 0
    return AuditEvent.objects.filter(target_type=target_type, target_id__in=ids).update(
        target_id=replacement[:64]
    )
