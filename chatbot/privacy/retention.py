"""The retention policy: conversations idle longer than RETENTION_DAYS are deleted or
anonymised, a bounded batch at a time (the beat task `chatbot.conversations_retention_apply`).

Anonymise keeps the rows and their numbers (token counts, cost, latency, model, flag
categories) for statistics, and removes what identifies or quotes the person: message
text, the title, client ids, staff notes, and the link to the customer.
"""

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.audit import audit_event_record
from accounts.models import AuditEvent
from chatbot.models import ProviderCall
from chatbot.platform.event_bus import event_streams_delete
from conversations.models import (
    Conversation,
    ConversationEvent,
    Feedback,
    Message,
    ModerationFlag,
)

logger = logging.getLogger(__name__)

ANONYMISED_PLACEHOLDER = "[removed by the retention policy]"


@dataclass(frozen=True, slots=True)
class RetentionReport:
    mode: str
    cutoff: str | None
    conversations: int = 0
    messages: int = 0
    moderation_flags: int = 0
    batches: int = 0
    more_remaining: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def _expired(cutoff: datetime):
    inflight = Message.objects.filter(
        conversation=OuterRef("pk"), status__in=[Message.Status.PENDING, Message.Status.STREAMING]
    )
    # Anonymised conversations have no customer any more: done, never picked up again.
    return Conversation.objects.filter(last_message_at__lt=cutoff, customer__isnull=False).exclude(
        Exists(inflight)
    )


def _delete_batch(ids: list) -> tuple[int, int, int]:
    _total, per_model = Conversation.objects.filter(pk__in=ids).delete()  # counts cascades too
    return (
        per_model.get(Conversation._meta.label, 0),
        per_model.get(Message._meta.label, 0),
        per_model.get(ModerationFlag._meta.label, 0),
    )


def _anonymise_batch(ids: list) -> tuple[int, int, int]:
    messages = Message.objects.filter(conversation_id__in=ids).update(
        content=ANONYMISED_PLACEHOLDER, client_message_id=None
    )
    # Staff notes and quoted excerpts of blocked replies are free text about the person too.
    flags = ModerationFlag.objects.filter(message__conversation_id__in=ids).update(
        note="", excerpt=""
    )
    # The ledger keeps its figures and whose spend they were (budgets), but no longer says
    # which message they were for: nothing leads from the messages back to the person.
    ProviderCall.objects.filter(reply__conversation_id__in=ids).update(reply=None)
    # Handoff (docs/handoff.md): the customer's feedback comments, staff notes and the
    # reasons given for a handoff are free text about the person; the address they left too.
    Feedback.objects.filter(conversation_id__in=ids).update(comment="")
    ConversationEvent.objects.filter(
        conversation_id__in=ids,
        kind__in=[ConversationEvent.Kind.NOTE, ConversationEvent.Kind.HANDOFF_REQUESTED],
    ).update(detail={})
    conversations = Conversation.objects.filter(pk__in=ids).update(
        customer=None, title="", status=Conversation.Status.CLOSED, followup_email=""
    )
    return conversations, messages, flags


def conversations_retention_apply(*, now: datetime | None = None) -> RetentionReport:
    """Apply the policy for up to RETENTION_MAX_BATCHES batches; the rest waits for the
    next run (`more_remaining`), so one run never holds locks or a worker for long."""
    days, mode = settings.RETENTION_DAYS, settings.RETENTION_MODE
    if days <= 0:
        return RetentionReport(mode=mode, cutoff=None)
    cutoff = (now or timezone.now()) - timedelta(days=days)
    apply_batch = _delete_batch if mode == "delete" else _anonymise_batch
    totals = [0, 0, 0]
    batches = 0
    more = False
    for _ in range(settings.RETENTION_MAX_BATCHES):
        with transaction.atomic():
            # skip_locked: a conversation someone is writing to right now waits for next run.
            ids = list(
                _expired(cutoff)
                .order_by("last_message_at")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE]
            )
            if not ids:
                break
            counts = apply_batch(ids)
            stream_ids = [str(pk) for pk in ids]
            transaction.on_commit(lambda s=stream_ids: event_streams_delete(s))
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        batches += 1
    else:
        more = _expired(cutoff).exists()
    report = RetentionReport(
        mode=mode,
        cutoff=cutoff.isoformat(),
        conversations=totals[0],
        messages=totals[1],
        moderation_flags=totals[2],
        batches=batches,
        more_remaining=more,
    )
    if batches:
        audit_event_record(
            actor=None,
            action=AuditEvent.Action.RETENTION_APPLY,
            target_type="policy",
            target_id=f"{mode}:{days}d",
            detail=report.as_dict(),
        )
    logger.info("retention %s: %s", mode, report.as_dict())
    return report
