"""Writes to conversations as records, and the human-handoff transitions (docs/handoff.md).

A turn (the customer's message and the bot's reply) is started and finished by the engine:
chatbot.replies.turn and chatbot.replies.lifecycle.

Handoff: `Conversation.handling` moves bot → waiting → human → bot, or waiting → followup
when nobody picks up in time (or outside business hours). Every transition below locks
the conversation row, checks the move is legal (else `HandoffError`, a 409), writes the
change and one `ConversationEvent` in one transaction, and tells live clients only after
commit (the customer's stream and the staff inbox stream). Publishing never fails a write.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from accounts.models import User
from chatbot.platform import live_events, metrics

from . import business_hours
from .errors import (
    ConversationClosed,
    ConversationError,
    FeedbackInvalid,
    HandoffError,
    HandoffUnavailable,
    NotStaff,
)
from .models import Conversation, ConversationEvent, Feedback, Message
from .selectors import agent_name, handoff_estimated_wait_seconds

logger = logging.getLogger(__name__)

Handling = Conversation.Handling
Kind = ConversationEvent.Kind

# Who asked for the handoff; a bounded metrics label (chatdesk_handoffs_total{reason}).
HANDOFF_SOURCES = ("widget", "message", "tool", "policy", "staff")


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


# ------------------------------------------------------------------------------ helpers


def _locked(conversation: Conversation) -> Conversation:
    """The row, locked for this transaction; the caller's instance is refreshed from it."""
    row = Conversation.objects.select_for_update().get(pk=conversation.pk)
    for field in (
        "status",
        "handling",
        "assignee_id",
        "handoff_requested_at",
        "assigned_at",
        "followup_email",
    ):
        setattr(conversation, field, getattr(row, field))
    return row


def _save(row: Conversation, conversation: Conversation, **changes) -> None:
    changes["updated_at"] = timezone.now()
    Conversation.objects.filter(pk=row.pk).update(**changes)
    for name, value in changes.items():
        setattr(conversation, name, value)
        setattr(row, name, value)


def _event(
    conversation: Conversation,
    kind: str,
    *,
    actor: User | None = None,
    reason: str = "",
    **detail,
) -> ConversationEvent:
    return ConversationEvent.objects.create(
        conversation_id=conversation.pk,
        kind=kind,
        actor=actor,
        reason=reason[:64],
        detail=detail,
    )


def _after_commit(*publishers: Callable[[], object]) -> None:
    """Run each publisher after commit; a failing event bus costs an update, nothing else."""

    def run() -> None:
        for publish in publishers:
            try:
                publish()
            except Exception:
                logger.exception("handoff: could not publish a live event")

    transaction.on_commit(run)


def _closed_hooks(conversation_id: uuid.UUID) -> Callable[[], object]:
    """CONVERSATION_CLOSED_HOOKS, called after commit as f(conversation_id=...) when a
    conversation closes or its closed record changes (a CSAT rating): the engine above us
    listens here (chatbot.insights writes the conversation's summary row)."""

    def run() -> None:
        for path in settings.CONVERSATION_CLOSED_HOOKS:
            import_string(path)(conversation_id=conversation_id)

    return run


def _handoff_hooks(conversation_id: uuid.UUID) -> Callable[[], object]:
    """HANDOFF_REQUESTED_HOOKS, called after commit as f(conversation_id=...) when a
    conversation starts waiting for a person (chatbot.knowledge records the question that
    led there as a knowledge gap)."""

    def run() -> None:
        for path in settings.HANDOFF_REQUESTED_HOOKS:
            import_string(path)(conversation_id=conversation_id)

    return run


def _inbox(conversation: Conversation, change: str) -> Callable[[], object]:
    conversation_id, handling = conversation.pk, conversation.handling
    return lambda: live_events.inbox_publish(
        conversation_id=conversation_id, change=change, handling=handling
    )


def _require_open(conversation: Conversation) -> None:
    if conversation.status == Conversation.Status.CLOSED:
        raise ConversationClosed("This conversation is closed.")


def _require_staff(user: User | None) -> User:
    if user is None or not user.is_active or not user.is_staff:
        raise NotStaff("Only an active staff member can do this.")
    return user


def _pickup_seconds(conversation: Conversation, now: datetime) -> int | None:
    if conversation.handling != Handling.WAITING or conversation.handoff_requested_at is None:
        return None
    return max(0, int((now - conversation.handoff_requested_at).total_seconds()))


def within_business_hours(*, at: datetime | None = None) -> bool:
    windows = business_hours.business_hours_parse(settings.HANDOFF_BUSINESS_HOURS)
    return business_hours.is_open(
        windows, at=at or timezone.now(), time_zone=settings.HANDOFF_TIME_ZONE
    )


# ------------------------------------------------------------------------------ handoff


@dataclass(frozen=True, slots=True)
class HandoffRequested:
    conversation: Conversation
    changed: bool  # False: it was already waiting for, or with, a person
    handling: str  # waiting, or followup when no one can pick up now (outside hours)
    estimated_wait_seconds: int | None = None


def conversation_handoff_request(
    *,
    conversation: Conversation,
    reason: str,
    requested_by: User | None = None,
    source: str = "widget",
    note: str = "",
) -> HandoffRequested:
    """Ask for a person. Callable by the widget, the message rules, the policy and a tool.

    `reason` is a short code (kept in the timeline, 64 chars); `source` says who asked
    (one of HANDOFF_SOURCES); `note` is free text for staff (a tool's explanation).
    Idempotent while the conversation waits for or is with a person. Outside business
    hours the conversation goes straight to followup and the customer may leave an email.
    """
    if not settings.HANDOFF_ENABLED:
        raise HandoffUnavailable("Talking to a person is not available here.")
    if source not in HANDOFF_SOURCES:
        raise ConversationError(f"Unknown handoff source {source!r}.", code="handoff_source")
    with transaction.atomic():
        row = _locked(conversation)
        _require_open(row)
        if row.handling in (Handling.WAITING, Handling.HUMAN):
            return HandoffRequested(conversation=conversation, changed=False, handling=row.handling)
        now = timezone.now()
        open_now = within_business_hours(at=now)
        handling = Handling.WAITING if open_now else Handling.FOLLOWUP
        _save(row, conversation, handling=handling, handoff_requested_at=now, assignee_id=None)
        _event(
            conversation,
            Kind.HANDOFF_REQUESTED,
            actor=requested_by,
            reason=reason,
            source=source,
            **({"note": note[:500]} if note else {}),
        )
        wait = None
        if open_now:
            wait = handoff_estimated_wait_seconds()
            _after_commit(
                lambda: live_events.handoff_publish(
                    conversation_id=conversation.pk,
                    state=handling,
                    reason=reason,
                    estimated_wait_seconds=wait,
                ),
                _inbox(conversation, Kind.HANDOFF_REQUESTED),
                lambda: _pickup_timeout_schedule(conversation_id=conversation.pk, requested_at=now),
                lambda: _auto_assign(conversation_id=conversation.pk),
                _handoff_hooks(conversation.pk),
            )
        else:
            _event(conversation, Kind.PICKUP_TIMEOUT, reason="outside_hours")
            _after_commit(
                lambda: live_events.handoff_publish(
                    conversation_id=conversation.pk,
                    state=handling,
                    reason="outside_hours",
                    email_requested=not conversation.followup_email,
                ),
                _inbox(conversation, Kind.HANDOFF_REQUESTED),
                _handoff_hooks(conversation.pk),
            )
    metrics.record_handoff(source=source)
    return HandoffRequested(
        conversation=conversation, changed=True, handling=handling, estimated_wait_seconds=wait
    )


def _pickup_timeout_schedule(*, conversation_id: uuid.UUID, requested_at: datetime) -> None:
    from .tasks import handoff_pickup_timeout  # the task module imports this one

    handoff_pickup_timeout.apply_async(
        (str(conversation_id), requested_at.isoformat()),
        countdown=settings.HANDOFF_PICKUP_TIMEOUT_SECONDS,
    )


def _auto_assign(*, conversation_id: uuid.UUID) -> None:
    """The queue's optional round robin (INBOX_AUTO_ASSIGN; conversations.assignment)."""
    from .assignment import conversation_auto_assign  # it builds on this module

    conversation_auto_assign(conversation_id=conversation_id)


def conversation_handoff_offer(*, conversation: Conversation, reply: Message, reason: str) -> bool:
    """The bot could not help: offer a person under `reply` (the widget's button).

    Only while the bot handles an open conversation; True when the offer was made."""
    if not settings.HANDOFF_ENABLED:
        return False
    with transaction.atomic():
        row = _locked(conversation)
        if row.status != Conversation.Status.OPEN or row.handling != Handling.BOT:
            return False
        Message.objects.filter(pk=reply.pk).update(handoff_offered=True)
        reply.handoff_offered = True
        _event(conversation, Kind.HANDOFF_OFFERED, reason=reason, reply_id=str(reply.pk))
        _after_commit(_inbox(conversation, Kind.HANDOFF_OFFERED))
    return True


def _assign(
    conversation: Conversation, *, assignee: User, actor: User | None, kind: str
) -> Conversation:
    now = timezone.now()
    row = _locked(conversation)
    _require_open(row)
    if row.handling == Handling.HUMAN and row.assignee_id == assignee.pk:
        return conversation
    pickup = _pickup_seconds(row, now)
    _save(row, conversation, handling=Handling.HUMAN, assignee_id=assignee.pk, assigned_at=now)
    conversation.assignee = assignee
    detail = {"assignee_id": str(assignee.pk), "assignee_name": agent_name(assignee)}
    if pickup is not None:
        detail["pickup_seconds"] = pickup
    _event(conversation, kind, actor=actor, reason="", **detail)
    name = agent_name(assignee)
    _after_commit(
        lambda: live_events.handoff_publish(
            conversation_id=conversation.pk, state=Handling.HUMAN, reason=kind
        ),
        lambda: live_events.agent_joined_publish(conversation_id=conversation.pk, agent_name=name),
        _inbox(conversation, kind),
    )
    if pickup is not None:
        transaction.on_commit(lambda: metrics.record_handoff_pickup(seconds=pickup))
    return conversation


def conversation_assign(
    *, conversation: Conversation, assignee: User, actor: User | None = None
) -> Conversation:
    """Give the conversation to `assignee` (from any open state; reassigning is allowed)."""
    _require_staff(assignee)
    with transaction.atomic():
        return _assign(conversation, assignee=assignee, actor=actor, kind=Kind.ASSIGNED)


def conversation_take_over(*, conversation: Conversation, agent: User) -> Conversation:
    """`agent` answers from now on: from the bot, the queue or follow-up.

    Refused while another agent has it (assign it instead, deliberately)."""
    _require_staff(agent)
    with transaction.atomic():
        row = _locked(conversation)
        if row.handling == Handling.HUMAN and row.assignee_id not in (None, agent.pk):
            raise HandoffError(
                "Another agent is handling this conversation; reassign it instead.",
                code="handoff_already_assigned",
            )
        return _assign(conversation, assignee=agent, actor=agent, kind=Kind.TAKEN_OVER)


def conversation_release(
    *, conversation: Conversation, actor: User | None = None, reason: str = ""
) -> Conversation:
    """Hand the conversation back to the bot (from human, waiting or followup)."""
    with transaction.atomic():
        row = _locked(conversation)
        _require_open(row)
        if row.handling == Handling.BOT:
            raise HandoffError("The bot already handles this conversation.")
        previous = User.objects.filter(pk=row.assignee_id).first() if row.assignee_id else None
        name = agent_name(previous or actor)
        _save(row, conversation, handling=Handling.BOT, assignee_id=None)
        conversation.assignee = None
        _event(
            conversation,
            Kind.RELEASED,
            actor=actor,
            reason=reason,
            agent_name=name,
        )
        publishers = [
            lambda: live_events.handoff_publish(
                conversation_id=conversation.pk, state=Handling.BOT, reason="released"
            ),
            _inbox(conversation, Kind.RELEASED),
        ]
        if previous is not None:
            publishers.insert(
                0,
                lambda: live_events.agent_left_publish(
                    conversation_id=conversation.pk, agent_name=name
                ),
            )
        _after_commit(*publishers)
    return conversation


def conversation_close(
    *, conversation: Conversation, actor: User | None = None, reason: str = ""
) -> Conversation:
    """Close the conversation. While it waits for or is with a person, that is staff's
    decision: the customer (actor None or not staff) is refused. Idempotent."""
    with transaction.atomic():
        row = _locked(conversation)
        if row.status == Conversation.Status.CLOSED:
            return conversation
        by_staff = actor is not None and actor.is_staff
        if not by_staff and row.handling in (Handling.WAITING, Handling.HUMAN):
            raise HandoffError(
                "A person is handling this conversation; they will close it.",
                code="handoff_in_progress",
            )
        was = row.handling
        # A closed conversation leaves every queue; the timeline keeps what it was.
        _save(row, conversation, status=Conversation.Status.CLOSED, handling=Handling.BOT)
        _event(conversation, Kind.CLOSED, actor=actor, reason=reason, handling=was)
        _after_commit(
            lambda: live_events.closed_publish(
                conversation_id=conversation.pk, reason=reason or "closed"
            ),
            _inbox(conversation, Kind.CLOSED),
            _closed_hooks(conversation.pk),
        )
    return conversation


def conversation_pickup_timeout(
    *, conversation_id: uuid.UUID | str, requested_at: datetime | None = None
) -> bool:
    """Nobody picked up in time: the conversation awaits follow-up. True if it moved.

    `requested_at` ties the check to one handoff request: a later request has its own."""
    now = timezone.now()
    with transaction.atomic():
        row = Conversation.objects.select_for_update().filter(pk=conversation_id).first()
        if row is None or row.status != Conversation.Status.OPEN:
            return False
        if row.handling != Handling.WAITING or row.handoff_requested_at is None:
            return False
        if requested_at is not None and row.handoff_requested_at != requested_at:
            return False
        timeout = timedelta(seconds=settings.HANDOFF_PICKUP_TIMEOUT_SECONDS)
        if row.handoff_requested_at + timeout > now:
            return False
        _save(row, row, handling=Handling.FOLLOWUP)
        _event(row, Kind.PICKUP_TIMEOUT, reason="timeout")
        _after_commit(
            lambda: live_events.handoff_publish(
                conversation_id=row.pk,
                state=Handling.FOLLOWUP,
                reason="timeout",
                email_requested=not row.followup_email,
            ),
            _inbox(row, Kind.PICKUP_TIMEOUT),
        )
    return True


def handoff_timeouts_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Move every conversation waiting past the timeout to followup (the beat's safety net
    for a lost countdown task). Returns how many moved."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.HANDOFF_PICKUP_TIMEOUT_SECONDS)
    ids = list(
        Conversation.objects.filter(
            status=Conversation.Status.OPEN,
            handling=Handling.WAITING,
            handoff_requested_at__lte=cutoff,
        ).values_list("pk", flat=True)[:limit]
    )
    return sum(conversation_pickup_timeout(conversation_id=pk) for pk in ids)


def conversation_followup_email_set(*, conversation: Conversation, email: str) -> Conversation:
    """The customer leaves an address for the answer (while waiting or awaiting follow-up)."""
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ConversationError("Enter a valid email address.", code="invalid_email") from None
    with transaction.atomic():
        row = _locked(conversation)
        _require_open(row)
        if row.handling not in (Handling.WAITING, Handling.FOLLOWUP):
            raise HandoffError("An email address is only asked for while waiting for a person.")
        _save(row, conversation, followup_email=email[:254])
        _event(conversation, Kind.FOLLOWUP_REQUESTED, actor=conversation.customer)
        _after_commit(_inbox(conversation, Kind.FOLLOWUP_REQUESTED))
    return conversation


# ------------------------------------------------------------------------ staff writes


def staff_message_send(*, conversation: Conversation, author: User, content: str) -> Message:
    """A staff member writes to the customer. Writing takes the conversation over from the
    bot or the queue (the bot never talks over a person). Awaiting follow-up, it stays so,
    and the answer is emailed when the customer left an address."""
    _require_staff(author)
    content = content.strip()
    if not content:
        raise ConversationError("Write a message first.", code="empty_message")
    if len(content) > settings.CHAT_MAX_MESSAGE_CHARS * 4:
        raise ConversationError("This message is too long.", code="message_too_long")
    with transaction.atomic():
        row = _locked(conversation)
        _require_open(row)
        if row.handling in (Handling.BOT, Handling.WAITING):
            _assign(conversation, assignee=author, actor=author, kind=Kind.TAKEN_OVER)
        now = timezone.now()
        message = Message.objects.create(
            conversation_id=conversation.pk,
            role=Message.Role.STAFF,
            author=author,
            content=content,
            status=Message.Status.COMPLETED,
            completed_at=now,
        )
        Conversation.objects.filter(pk=conversation.pk).update(last_message_at=now, updated_at=now)
        email_to = row.followup_email if row.handling == Handling.FOLLOWUP else ""
        from .serializers import MessageSerializer

        payload = dict(MessageSerializer(message).data)
        _after_commit(
            lambda: live_events.message_event_publish(
                conversation_id=conversation.pk, payload=payload
            ),
            _inbox(conversation, "message"),
        )
        if email_to:
            transaction.on_commit(lambda: _followup_email_enqueue(message_id=message.pk))
    return message


def _followup_email_enqueue(*, message_id: uuid.UUID) -> None:
    from .tasks import staff_reply_email

    try:
        staff_reply_email.delay(str(message_id))
    except Exception:
        logger.exception("message %s: could not enqueue its follow-up email", message_id)


def staff_reply_email_send(*, message_id: uuid.UUID | str) -> bool:
    """Email a staff answer to the address the customer left. True when sent."""
    from django.core.mail import send_mail

    message = (
        Message.objects.select_related("conversation", "author__agent_profile")
        .filter(pk=message_id, role=Message.Role.STAFF)
        .first()
    )
    if message is None or not message.conversation.followup_email:
        return False
    name = agent_name(message.author) or "Support"
    send_mail(
        subject=settings.HANDOFF_FOLLOWUP_EMAIL_SUBJECT,
        message=f"{message.content}\n\n— {name}\n\n{settings.HANDOFF_FOLLOWUP_EMAIL_FOOTER}",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[message.conversation.followup_email],
    )
    return True


def conversation_note_add(
    *, conversation: Conversation, author: User, text: str
) -> ConversationEvent:
    """An internal note: staff only, never shown to the customer."""
    _require_staff(author)
    text = text.strip()
    if not text:
        raise ConversationError("Write a note first.", code="empty_note")
    with transaction.atomic():
        event = _event(conversation, Kind.NOTE, actor=author, text=text[:5000])
        _after_commit(_inbox(conversation, Kind.NOTE))
    return event


# ----------------------------------------------------------------------------- feedback


def feedback_record(
    *,
    conversation: Conversation,
    kind: str,
    vote: str,
    message: Message | None = None,
    comment: str = "",
) -> Feedback:
    """The customer's thumbs up/down: CSAT once the conversation is closed, helpfulness
    of one bot answer. Voting again replaces the earlier vote."""
    if vote not in Feedback.Vote.values:
        raise FeedbackInvalid("vote must be 'up' or 'down'.")
    comment = comment.strip()[:2000]
    if kind == Feedback.Kind.CSAT:
        if message is not None:
            raise FeedbackInvalid("A conversation rating names no message.")
        if conversation.status != Conversation.Status.CLOSED:
            raise FeedbackInvalid("Rate the conversation once it is closed.")
        lookup = {"conversation": conversation, "kind": kind}
    elif kind == Feedback.Kind.HELPFULNESS:
        if (
            message is None
            or message.conversation_id != conversation.pk
            or message.role != Message.Role.ASSISTANT
            or message.status != Message.Status.COMPLETED
            or not message.content
        ):
            raise FeedbackInvalid("Only an answer of the assistant in this conversation is rated.")
        lookup = {"message": message, "kind": kind}
    else:
        raise FeedbackInvalid("kind must be 'csat' or 'helpfulness'.")
    with transaction.atomic():
        feedback, _ = Feedback.objects.update_or_create(
            **lookup, defaults={"conversation": conversation, "vote": vote, "comment": comment}
        )
        if kind == Feedback.Kind.CSAT:
            _after_commit(_closed_hooks(conversation.pk))
    metrics.record_feedback(kind=kind, vote=vote)
    return feedback
