"""Starting a turn: admit the customer's message, store it with a pending reply, enqueue.

Both rows are written in one transaction and the reply's task is enqueued only after
commit, so a worker never sees a reply whose message is not there. After commit, live
clients are told first (other tabs see the question), then the reply is enqueued; neither
may fail the request: the message is safely stored, and the sweeper re-dispatches a reply
nobody picked up.
"""

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from chatbot.cost import debounce, limits
from conversations.errors import ConversationClosed
from conversations.models import Conversation, Message

from . import lifecycle, live

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnStarted:
    message: Message
    reply: Message
    created: bool  # False when the client_message_id had been seen: nothing was written


def _turn_already_started(conversation: Conversation, client_message_id: str) -> TurnStarted | None:
    message = (
        Message.objects.filter(conversation=conversation, client_message_id=client_message_id)
        .select_related("reply")
        .first()
    )
    if message is None:
        return None
    return TurnStarted(message=message, reply=message.reply, created=False)


def _after_commit(message: Message, reply: Message, countdown: float | None) -> None:
    live.message_publish(message=message)
    live.message_publish(message=reply)
    try:
        lifecycle.reply_enqueue(reply_id=reply.id, countdown=countdown)
    except Exception:
        logger.exception("reply %s: enqueue failed; the sweeper will re-dispatch it", reply.id)


def turn_start(
    *, conversation: Conversation, content: str, client_message_id: str | None = None
) -> TurnStarted:
    """Store the customer's message and a pending reply, then enqueue the reply's task.

    Re-sending the same `client_message_id` returns the first result and writes nothing.
    Refused before anything is written: a closed conversation, an exhausted budget, a
    conversation or in-flight cap (chatbot.cost.limits).
    """
    if conversation.status == Conversation.Status.CLOSED:
        raise ConversationClosed("This conversation is closed; start a new one.")
    if client_message_id and (known := _turn_already_started(conversation, client_message_id)):
        return known
    tokens = limits.message_admit(conversation=conversation, content=content)

    now = timezone.now()
    try:
        with transaction.atomic():
            counts = limits.caps_check(conversation=conversation)
            countdown = debounce.reply_countdown(
                conversation=conversation, in_burst=counts.replies_in_flight_here
            )
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
            transaction.on_commit(lambda: _after_commit(message, reply, countdown))
    except IntegrityError:
        # A concurrent request with the same client_message_id won the race.
        if client_message_id and (known := _turn_already_started(conversation, client_message_id)):
            return known
        raise
    return TurnStarted(message=message, reply=reply, created=True)
