"""Every write to an assistant reply's lifecycle: the one place a reply changes state.

A reply goes pending → streaming → completed | failed, and every step is a conditional
UPDATE, so any number of duplicated, redelivered or late tasks change nothing twice:

* `reply_claim` takes a pending reply (or one whose holder's lease ran out) and gives it a
  fresh `claim_token`;
* `reply_heartbeat` extends the lease while the model is answering;
* `reply_complete`, `reply_fail`, `reply_refuse`, `reply_replace_blocked`, `reply_merge`
  and `reply_defer` (a person handles the conversation) only write while the caller still
  holds the claim token, so a worker that lost its lease (was presumed dead) cannot
  overwrite the reply;
* `replies_sweep_stuck` re-dispatches replies nobody finished and fails hopeless ones.

Writes come first and live events after (chatbot.replies.live): a failing event bus never
fails a reply, and never causes a second model call.
"""

import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from chatbot.moderation import OUTPUT, OutputBlocked, policy
from chatbot.moderation.services import moderation_flags_record
from chatbot.platform.rows import instances_from_row, select_list
from chatbot.prompt.tokens import count_tokens
from conversations.models import Conversation, Message

from . import live

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClaimedReply:
    reply: Message
    claim_token: uuid.UUID
    # Whether the customer had sent a message after the reply's question when it was
    # claimed (read by the claim itself on Postgres); None: not looked at. False spares the
    # burst check (chatbot.cost.debounce) its statement: nothing later can supersede it.
    later_question: bool | None = None


def reply_enqueue(*, reply_id: uuid.UUID, countdown: float | None = None) -> None:
    """Hand the reply to a worker (`chatbot.reply_generate`)."""
    from .tasks import reply_generate  # the task module imports this one

    reply_generate.apply_async((str(reply_id),), countdown=countdown or None)


def reply_claim(*, reply_id: uuid.UUID | str, now: datetime | None = None) -> ClaimedReply | None:
    """Take the reply for generation, or return None when it is not ours to do."""
    now = now or timezone.now()
    token = uuid.uuid4()
    lease_until = now + timedelta(seconds=settings.REPLY_LEASE_SECONDS)
    if connection.vendor == "postgresql":
        claimed = _claim_returning(reply_id, token=token, now=now, lease_until=lease_until)
        if claimed is None:
            return None
        reply, later_question = claimed
        return ClaimedReply(reply=reply, claim_token=token, later_question=later_question)
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
        lease_expires_at=lease_until,
    )
    if not updated:
        return None
    reply = Message.objects.select_related("conversation__customer", "reply_to").get(pk=reply_id)
    return ClaimedReply(reply=reply, claim_token=token)


_CLAIM_JOINED = ((Conversation, "c"), (User, "u"), (Message, "q"))


@functools.cache
def _claim_sql() -> str:
    # Identifiers come from the models' metadata; every value is a query parameter.
    select = select_list((Message, "claimed"), *_CLAIM_JOINED)
    table = Message._meta.db_table
    return (
        f'WITH claimed AS (UPDATE "{table}" SET status = %s, claim_token = %s, '  # noqa: S608 # nosec B608
        "attempts = attempts + 1, lease_expires_at = %s "
        "WHERE id = %s AND role = %s AND attempts < %s "
        "AND (status = %s OR (status = %s AND lease_expires_at < %s)) RETURNING *) "
        f"SELECT {select}, "
        f'EXISTS (SELECT 1 FROM "{table}" later '
        "WHERE later.conversation_id = claimed.conversation_id AND later.role = %s "
        "AND later.created_at > q.created_at) FROM claimed "
        f'JOIN "{Conversation._meta.db_table}" c ON c.id = claimed.conversation_id '
        f'LEFT JOIN "{User._meta.db_table}" u ON u.id = c.customer_id '
        f'LEFT JOIN "{table}" q ON q.id = claimed.reply_to_id'
    )


def _claim_returning(reply_id, *, token: uuid.UUID, now: datetime, lease_until: datetime):
    """The claim in one statement (Postgres): the conditional UPDATE returns the reply with
    its conversation, customer and question, which the turn needs next, and whether a
    customer message came after that question. Returns (reply, later_question) or None."""
    sql = _claim_sql()
    streaming = Message.Status.STREAMING
    params = [streaming, token, lease_until, reply_id, Message.Role.ASSISTANT]
    params += [settings.REPLY_MAX_ATTEMPTS, Message.Status.PENDING, streaming, now]
    params.append(Message.Role.USER)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    (reply, conversation, customer, question), offset = instances_from_row(
        row, (Message, "claimed"), *_CLAIM_JOINED
    )
    Conversation._meta.get_field("customer").set_cached_value(conversation, customer)
    Message._meta.get_field("conversation").set_cached_value(reply, conversation)
    Message._meta.get_field("reply_to").set_cached_value(reply, question)
    return reply, bool(row[offset])


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
    if connection.vendor == "postgresql":
        updated = _finish_returning(claimed, now=now, fields=fields)
    else:
        updated = _finish_orm(claimed, now=now, fields=fields)
    if not updated:
        logger.warning("reply %s: claim lost before finishing; result discarded", claimed.reply.pk)
        return False
    # Keep the claimed instance as the row now is, so callers need not read it back.
    for name, value in {"completed_at": now, "lease_expires_at": None, **fields}.items():
        setattr(claimed.reply, name, value)
    return True


def _finish_orm(claimed: ClaimedReply, *, now: datetime, fields: dict) -> bool:
    # No savepoint when a caller's transaction holds this write (generate records the
    # citations in the same one): it would cost two statements and roll back nothing the
    # caller's own rollback does not.
    with transaction.atomic(savepoint=False):
        updated = Message.objects.filter(
            pk=claimed.reply.pk, claim_token=claimed.claim_token, status=Message.Status.STREAMING
        ).update(completed_at=now, lease_expires_at=None, **fields)
        if updated:
            Conversation.objects.filter(pk=claimed.reply.conversation_id).update(
                last_message_at=now, updated_at=now
            )
    return bool(updated)


# The finish's statement per set of fields written (a handful: one per reply_* function).
_finish_statements: dict[tuple[str, ...], tuple[str, tuple]] = {}


def _finish_statement(names: tuple[str, ...]) -> tuple[str, tuple]:
    """The reply's guarded UPDATE and the conversation's stamp as one statement (Postgres:
    data-modifying CTEs), written once per process; and the fields whose values it takes."""
    found = _finish_statements.get(names)
    if found is not None:
        return found
    q = connection.ops.quote_name
    message, conversation = Message._meta, Conversation._meta
    written = tuple(message.get_field(name) for name in ("completed_at", *names))
    assignments = ", ".join(f"{q(field.column)} = %s" for field in written)
    # Identifiers come from the models' metadata; every value is a query parameter.
    sql = (
        f"WITH done AS (UPDATE {q(message.db_table)} SET {assignments}, "  # noqa: S608 # nosec B608
        f"{q(message.get_field('lease_expires_at').column)} = NULL "
        f"WHERE {q(message.pk.column)} = %s AND {q(message.get_field('claim_token').column)} = %s "
        f"AND {q(message.get_field('status').column)} = %s "
        f"RETURNING {q(message.get_field('conversation').column)}), "
        f"stamped AS (UPDATE {q(conversation.db_table)} SET "
        f"{q(conversation.get_field('last_message_at').column)} = %s, "
        f"{q(conversation.get_field('updated_at').column)} = %s "
        f"WHERE {q(conversation.pk.column)} IN "
        f"(SELECT {q(message.get_field('conversation').column)} FROM done)) "
        "SELECT count(*) FROM done"
    )
    found = _finish_statements[names] = (sql, written)
    return found


def _finish_returning(claimed: ClaimedReply, *, now: datetime, fields: dict) -> bool:
    """The finish in one statement, whose SQL is built once: the conversation is stamped
    only when the reply's write landed (a lost claim changes nothing)."""
    sql, written = _finish_statement(tuple(fields))
    values = (now, *fields.values())
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(written, values, strict=True)
    ]
    message = Message._meta
    params += [
        message.pk.get_db_prep_value(claimed.reply.pk, connection),
        message.get_field("claim_token").get_db_prep_value(claimed.claim_token, connection),
        Message.Status.STREAMING,
    ]
    stamp = Conversation._meta.get_field("last_message_at").get_db_prep_value(now, connection)
    params += [stamp, stamp]
    # As the ORM's atomic block did: a failure marks a caller's transaction for rollback.
    with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return bool(cursor.fetchone()[0])


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


def reply_refuse(*, claimed: ClaimedReply) -> bool:
    """Answer a blocked message with the polite refusal, without calling any model."""
    return reply_complete(
        claimed=claimed,
        content=settings.MODERATION_REFUSAL_TEXT,
        model="",
        prompt_tokens=None,
        completion_tokens=None,
        latency_ms=0,
    )


def reply_replace_blocked(
    *, claimed: ClaimedReply, blocked: OutputBlocked, model: str, latency_ms: int
) -> bool:
    """Store the safe text instead of a reply that tripped a block rule; keep the original
    (as far as it got) on the flag for the reviewer."""
    finished = reply_complete(
        claimed=claimed,
        content=settings.MODERATION_OUTPUT_REPLACEMENT_TEXT,
        model=model,
        prompt_tokens=None,
        completion_tokens=None,
        latency_ms=latency_ms,
    )
    if finished:
        moderation_flags_record(
            message=claimed.reply, source=OUTPUT, verdict=blocked.verdict, excerpt=blocked.text
        )
        logger.info(
            "reply %s replaced: blocked by %s",
            claimed.reply.id,
            ", ".join(sorted({h.rule for h in blocked.verdict.hits if h.action == policy.BLOCK})),
        )
    return finished


def reply_defer(*, claimed: ClaimedReply) -> bool:
    """A person handles the conversation (docs/handoff.md): settle the reply empty as
    `deferred` without any model call, so it is never left pending."""
    return _finish(claimed, status=Message.Status.DEFERRED, content="", error_code="", latency_ms=0)


def reply_merge(*, claimed: ClaimedReply, into_id: uuid.UUID) -> bool:
    """Burst debounce: finish this reply empty, pointing at the later reply that answers
    its message together with the ones after it (chatbot.cost.debounce)."""
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
        transaction.on_commit(lambda: [reply_enqueue(reply_id=reply_id) for reply_id in ids])
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
        reply_enqueue(reply_id=reply_id)
    if redispatch or failed:
        logger.info("sweeper: re-dispatched %d replies, failed %d", len(redispatch), len(failed))
    return SweepReport(redispatched=redispatch, failed=failed)


def replies_recover_stuck() -> SweepReport:
    """Sweep stuck replies and tell live clients about the ones given up on."""
    report = replies_sweep_stuck()
    for reply in Message.objects.filter(pk__in=report.failed):
        live.reply_final_publish(reply=reply, error_code=reply.error_code)
    return report
