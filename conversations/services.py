"""Writes to conversations and messages.

The reply lifecycle (pending → streaming → completed | failed) is guarded by conditional
UPDATEs, so any number of duplicated, redelivered or late tasks change nothing twice:

* `reply_claim` takes a pending reply (or one whose holder's lease ran out) and gives it a
  fresh `claim_token`;
* `reply_heartbeat` extends the lease while the model is answering;
* `reply_complete` / `reply_fail` only write if the caller still holds the claim token,
  so a worker that lost its lease (was presumed dead) cannot overwrite the reply.
"""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User

from . import limits
from .errors import ConversationClosed
from .models import Conversation, Message

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    message: Message
    reply: Message
    created: bool  # False when the client_message_id had been seen: nothing was written


@dataclass(frozen=True, slots=True)
class ClaimedReply:
    reply: Message
    claim_token: uuid.UUID


def conversation_create(
    *, customer: User, widget_key_id: uuid.UUID | None = None, title: str = ""
) -> Conversation:
    return Conversation.objects.create(
        customer=customer, widget_key_id=widget_key_id, title=title.strip()[:200]
    )


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_close(*, conversation: Conversation) -> Conversation:
    conversation.status = Conversation.Status.CLOSED
    conversation.save(update_fields=["status", "updated_at"])
    return conversation


def _enqueue_reply(reply_id: uuid.UUID, *, countdown: float | None = None) -> None:
    from chatbot.tasks import generate_reply  # the engine depends on us, not the reverse

    generate_reply.apply_async((str(reply_id),), countdown=countdown or None)


def _in_burst(conversation: Conversation) -> bool:
    """Is the customer writing again before an earlier reply was given? (chatbot.debounce)"""
    return (
        bool(settings.CHAT_DEBOUNCE_SECONDS)
        and Message.objects.filter(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            status__in=[Message.Status.PENDING, Message.Status.STREAMING],
        ).exists()
    )


def _after_send(message: Message, reply: Message, *, burst: bool = False) -> None:
    """After commit: tell live clients, then enqueue. Neither may fail the request: the
    message is safely stored, and the sweeper re-dispatches a reply nobody picked up."""
    from .events import message_publish

    def enqueue() -> None:
        try:
            # Burst debounce: only a message sent while an earlier reply is still coming
            # waits for the customer's next one; a lone message is answered at once. The
            # window is far below the broker's visibility_timeout; eager mode ignores it.
            _enqueue_reply(reply.id, countdown=settings.CHAT_DEBOUNCE_SECONDS if burst else None)
        except Exception:
            if settings.CELERY_TASK_ALWAYS_EAGER:
                raise  # inline mode: a failure here is a bug, surface it
            logger.exception("reply %s: enqueue failed; the sweeper will re-dispatch it", reply.id)

    def publish() -> None:
        try:
            # Other tabs of the same customer see the question (clients de-duplicate by id).
            message_publish(message=message)
            message_publish(message=reply)
        except Exception:
            logger.exception("reply %s: could not publish live events", reply.id)

    if settings.CELERY_TASK_ALWAYS_EAGER:  # the reply is generated right here, inline
        publish()
        enqueue()
    else:  # the reply's time to first token should not wait for these events
        enqueue()
        publish()


def _existing_send(conversation: Conversation, client_message_id: str) -> SendResult | None:
    message = (
        Message.objects.filter(conversation=conversation, client_message_id=client_message_id)
        .select_related("reply")
        .first()
    )
    if message is None:
        return None
    return SendResult(message=message, reply=message.reply, created=False)


def message_send(
    *, conversation: Conversation, content: str, client_message_id: str | None = None
) -> SendResult:
    """Store the customer's message and a pending reply, then enqueue the reply's task.

    Both rows are written in one transaction and the task is enqueued only after commit,
    so a worker never sees a reply whose message is not there. Re-sending the same
    `client_message_id` returns the first result and writes nothing.
    """
    if conversation.status == Conversation.Status.CLOSED:
        raise ConversationClosed("This conversation is closed; start a new one.")
    if client_message_id and (existing := _existing_send(conversation, client_message_id)):
        return existing
    tokens = limits.message_admit(conversation=conversation, content=content)

    now = timezone.now()
    try:
        with transaction.atomic():
            limits.caps_check(conversation=conversation)
            burst = _in_burst(conversation)
            message = Message.objects.create(
                conversation=conversation,
                role=Message.Role.USER,
                content=content,
                status=Message.Status.COMPLETED,
                client_message_id=client_message_id or None,
                completed_at=now,
                token_count=tokens.tokens,
                token_count_estimated=tokens.estimated,
            )
            reply = Message.objects.create(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.PENDING,
                reply_to=message,
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=now, updated_at=now
            )
            transaction.on_commit(lambda: _after_send(message, reply, burst=burst))
    except IntegrityError:
        # A concurrent request with the same client_message_id won the race.
        if client_message_id and (existing := _existing_send(conversation, client_message_id)):
            return existing
        raise
    return SendResult(message=message, reply=reply, created=True)


def reply_claim(*, reply_id: uuid.UUID, now: datetime | None = None) -> ClaimedReply | None:
    """Take the reply for generation, or return None when it is not ours to do."""
    now = now or timezone.now()
    token = uuid.uuid4()
    claimable = Q(status=Message.Status.PENDING) | Q(
        status=Message.Status.STREAMING, lease_expires_at__lt=now
    )
    updated = Message.objects.filter(
        claimable,
        pk=reply_id,
        role=Message.Role.ASSISTANT,
        attempts__lt=settings.REPLY_MAX_ATTEMPTS,
    ).update(
        status=Message.Status.STREAMING,
        claim_token=token,
        attempts=F("attempts") + 1,
        lease_expires_at=now + timedelta(seconds=settings.REPLY_LEASE_SECONDS),
    )
    if not updated:
        return None
    reply = Message.objects.select_related("conversation__customer", "reply_to").get(pk=reply_id)
    return ClaimedReply(reply=reply, claim_token=token)


def reply_heartbeat(*, claimed: ClaimedReply) -> bool:
    """Extend the lease; False means we lost the reply to someone else."""
    expires = timezone.now() + timedelta(seconds=settings.REPLY_LEASE_SECONDS)
    return bool(
        Message.objects.filter(
            pk=claimed.reply.pk, claim_token=claimed.claim_token, status=Message.Status.STREAMING
        ).update(lease_expires_at=expires)
    )


def _finish(claimed: ClaimedReply, **fields) -> bool:
    now = timezone.now()
    with transaction.atomic():
        updated = Message.objects.filter(
            pk=claimed.reply.pk, claim_token=claimed.claim_token, status=Message.Status.STREAMING
        ).update(completed_at=now, lease_expires_at=None, **fields)
        if updated:
            Conversation.objects.filter(pk=claimed.reply.conversation_id).update(
                last_message_at=now, updated_at=now
            )
    if not updated:
        logger.warning("reply %s: claim lost before finishing; result discarded", claimed.reply.pk)
        return False
    # Keep the claimed instance as the row now is, so callers need not read it back.
    for name, value in {"completed_at": now, "lease_expires_at": None, **fields}.items():
        setattr(claimed.reply, name, value)
    return True


def reply_complete(
    *,
    claimed: ClaimedReply,
    content: str,
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    latency_ms: int,
    cached: bool = False,
    route_reason: str = "",
) -> bool:
    from chatbot.tokens import count_tokens

    tokens = count_tokens(content, model)  # counted once, here, for later contexts
    return _finish(
        claimed,
        status=Message.Status.COMPLETED,
        content=content,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency_ms,
        error_code="",
        cached=cached,
        route_reason=route_reason[:300],
        token_count=tokens.tokens,
        token_count_estimated=tokens.estimated,
    )


def reply_fail(
    *,
    claimed: ClaimedReply,
    error_code: str,
    model: str = "",
    latency_ms: int | None = None,
    content: str | None = None,
    route_reason: str = "",
) -> bool:
    return _finish(
        claimed,
        status=Message.Status.FAILED,
        content=content or settings.CHAT_FAILED_REPLY_TEXT,
        error_code=error_code,
        model=model,
        latency_ms=latency_ms,
        route_reason=route_reason[:300],
    )


def reply_merge(*, claimed: ClaimedReply, into_id: uuid.UUID) -> bool:
    """Burst debounce: finish this reply empty, pointing at the later reply that answers
    its message together with the ones after it (chatbot.debounce)."""
    return _finish(
        claimed,
        status=Message.Status.COMPLETED,
        content="",
        error_code="",
        merged_into_id=into_id,
        latency_ms=0,
    )


def replies_unmerge(*, into: Message) -> list[uuid.UUID]:
    """Send back to the queue the replies that were folded into `into` (burst debounce)
    when `into` turns out not to answer them (its message was refused). They were merged
    before that message was moderated; now each is generated on its own."""
    ids = list(Message.objects.filter(merged_into=into).values_list("pk", flat=True))
    if ids:
        Message.objects.filter(pk__in=ids).update(
            status=Message.Status.PENDING,
            merged_into=None,
            completed_at=None,
            claim_token=None,
            lease_expires_at=None,
        )
        transaction.on_commit(lambda: [_enqueue_reply(reply_id) for reply_id in ids])
    return ids


@dataclass(frozen=True, slots=True)
class SweepReport:
    redispatched: list[uuid.UUID]
    failed: list[uuid.UUID]


def replies_sweep_stuck(*, now: datetime | None = None) -> SweepReport:
    """Re-dispatch replies whose task was lost or whose worker died; fail hopeless ones.

    Runs periodically (Celery beat). Safe to run concurrently: dispatching a reply twice
    is harmless because `reply_claim` lets only one task take it.
    """
    now = now or timezone.now()
    pending_cutoff = now - timedelta(seconds=settings.REPLY_REDISPATCH_AFTER_SECONDS)
    stuck = Message.objects.filter(role=Message.Role.ASSISTANT).filter(
        Q(status=Message.Status.PENDING, created_at__lt=pending_cutoff)
        | Q(status=Message.Status.STREAMING, lease_expires_at__lt=now)
    )
    exhausted = list(
        stuck.filter(attempts__gte=settings.REPLY_MAX_ATTEMPTS).values_list("pk", flat=True)[:500]
    )
    failed = []
    for reply_id in exhausted:
        done = Message.objects.filter(
            Q(status=Message.Status.PENDING)
            | Q(status=Message.Status.STREAMING, lease_expires_at__lt=now),
            pk=reply_id,
        ).update(
            status=Message.Status.FAILED,
            error_code="worker_lost",
            content=settings.CHAT_FAILED_REPLY_TEXT,
            completed_at=now,
            lease_expires_at=None,
        )
        if done:
            failed.append(reply_id)
    redispatch = list(
        stuck.filter(attempts__lt=settings.REPLY_MAX_ATTEMPTS).values_list("pk", flat=True)[:500]
    )
    for reply_id in redispatch:
        _enqueue_reply(reply_id)
    if redispatch or failed:
        logger.info("sweeper: re-dispatched %d replies, failed %d", len(redispatch), len(failed))
    return SweepReport(redispatched=redispatch, failed=failed)
