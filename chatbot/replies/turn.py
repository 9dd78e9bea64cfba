"""Starting a turn: admit the customer's message, store it with a pending reply, enqueue.

Both rows are written in one transaction and the reply's task is enqueued only after
commit, so a worker never sees a reply whose message is not there. After commit, live
clients are told first (other tabs see the question), then the reply is enqueued; neither
may fail the request: the message is safely stored, and the sweeper re-dispatches a reply
nobody picked up.

Human handoff (docs/handoff.md): while a person handles the conversation (waiting, human,
followup) the message is stored and shown live to the customer's tabs and to staff, and no
reply is created. A message that asks for a person (conversations.handoff_rules, English
and Chinese) requests the handoff in the same transaction instead of getting a bot reply.
"""

import functools
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from chatbot.cost import budgets, debounce, limits
from chatbot.platform import live_events
from chatbot.prompt.tokens import TokenCount
from conversations.errors import ConversationClosed, ConversationNotFound
from conversations.handoff_rules import handoff_phrase_in
from conversations.models import Conversation, Message
from conversations.services import conversation_handoff_request

from . import lifecycle, live

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnStarted:
    message: Message
    reply: Message | None  # None: a person handles the conversation, the bot stays quiet
    created: bool  # False when the client_message_id had been seen: nothing was written


def _turn_already_started(conversation: Conversation, client_message_id: str) -> TurnStarted | None:
    message = (
        Message.objects.filter(conversation=conversation, client_message_id=client_message_id)
        .select_related("reply")
        .first()
    )
    if message is None:
        return None
    return TurnStarted(message=message, reply=getattr(message, "reply", None), created=False)


def _turn_replayed(message_id) -> TurnStarted:
    message = Message.objects.select_related("reply").get(pk=message_id)
    return TurnStarted(message=message, reply=getattr(message, "reply", None), created=False)


class _Replayed(Exception):
    """Leaves the send's transaction (rolling back its stamp): the message was stored."""

    def __init__(self, message_id):
        self.message_id = message_id


def _conversation_locked(customer_id, conversation_id) -> Conversation | None:
    """The customer's conversation, their row locked in the same statement.

    The lock serialises this customer's sends (only theirs) until the transaction ends; the
    counts (chatbot.cost.limits.caps_count) are the next statement, so they see what a
    send before ours wrote. On Postgres the statement is written out (a raw query costs a
    fifth of the ORM's composing and compiling); `conversation.customer` is then read only
    when used (a handoff request)."""
    if customer_id is not None and connection.vendor == "postgresql":
        locked = Conversation.objects.raw(_locked_sql(), [conversation_id, customer_id])
        return next(iter(locked), None)
    conversations = Conversation.objects.filter(pk=conversation_id, customer_id=customer_id)
    if customer_id is not None:
        conversations = conversations.select_related("customer").select_for_update(of=("customer",))
    return conversations.first()


@functools.cache
def _locked_sql() -> str:
    quote = connection.ops.quote_name
    names = {
        "conversations": quote(Conversation._meta.db_table),
        "users": quote(Conversation._meta.get_field("customer").related_model._meta.db_table),
    }
    return _LOCKED_SQL.format(**names)


_LOCKED_SQL = (
    "SELECT c.* FROM {conversations} c JOIN {users} u ON u.id = c.customer_id"
    " WHERE c.id = %s AND c.customer_id = %s FOR UPDATE OF u"
)


def _after_commit(message: Message, reply: Message, countdown: float | None) -> None:
    live.messages_publish(messages=[message, reply])
    try:
        lifecycle.reply_enqueue(reply_id=reply.id, countdown=countdown)
    except Exception:
        logger.exception("reply %s: enqueue failed; the sweeper will re-dispatch it", reply.id)


def _for_person_after_commit(message: Message) -> None:
    live.message_publish(message=message)
    try:
        conversation = message.conversation
        live_events.inbox_publish(
            conversation_id=conversation.pk, change="message", handling=conversation.handling
        )
    except Exception:
        logger.exception("message %s: could not tell the inbox", message.pk)


def _customer_message(
    conversation: Conversation,
    content: str,
    client_message_id: str | None,
    tokens: TokenCount,
    now,
) -> Message:
    """The customer's message, not saved yet (stored alone, or with its reply in one INSERT)."""
    return Message(
        conversation=conversation,
        role=Message.Role.USER,
        content=content,
        status=Message.Status.COMPLETED,
        client_message_id=client_message_id or None,
        completed_at=now,
        token_count=tokens.tokens,
        token_count_estimated=tokens.estimated,
    )


def _message_for_person(
    conversation: Conversation,
    content: str,
    client_message_id: str | None,
    asked_phrase: str | None,
    tokens: TokenCount,
    now,
) -> TurnStarted:
    """Store the customer's message without a bot reply; ask for a person if they did.

    Inside the send's transaction, after the caps were checked and the conversation stamped."""
    message = _customer_message(conversation, content, client_message_id, tokens, now)
    message.save(force_insert=True)
    if asked_phrase:
        conversation_handoff_request(
            conversation=conversation,
            reason="asked_in_message",
            requested_by=conversation.customer,
            source="message",
            note=asked_phrase,
        )
    transaction.on_commit(lambda: _for_person_after_commit(message))
    return TurnStarted(message=message, reply=None, created=True)


def turn_start(
    *, conversation: Conversation, content: str, client_message_id: str | None = None
) -> TurnStarted:
    """`turn_start_for` the conversation's customer (re-read under their lock)."""
    return turn_start_for(
        customer_id=conversation.customer_id,
        conversation_id=conversation.pk,
        content=content,
        client_message_id=client_message_id,
    )


def turn_start_for(
    *,
    customer_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
    content: str,
    client_message_id: str | None = None,
) -> TurnStarted:
    """Store the customer's message and a pending reply, then enqueue the reply's task.

    Re-sending the same `client_message_id` returns the first result and writes nothing.
    Refused before anything is written: another customer's (or no) conversation (404), a
    closed conversation, an exhausted budget (the error then offers a person), a
    conversation or in-flight cap (chatbot.cost.limits). While a person handles the
    conversation, or when the message asks for one, the message is stored without a reply
    (`reply` is None).

    Four statements on Postgres for a bot turn: the conversation with the customer's row
    lock, the counts with the conversation's stamp, both rows in one INSERT (the token's
    lookup before makes the POST's four). The tokens are counted before the lock.
    """
    plan = limits.send_plan(customer_id=customer_id, content=content)
    tokens = plan.tokens
    now = timezone.now()
    try:
        with transaction.atomic():
            conversation = _conversation_locked(customer_id, conversation_id)
            if conversation is None:
                raise ConversationNotFound("Not found.")
            if conversation.status == Conversation.Status.CLOSED:
                raise ConversationClosed("This conversation is closed; start a new one.")
            counts = limits.caps_count(
                conversation=conversation, client_message_id=client_message_id, stamp_at=now
            )
            if counts.known_message_id is not None:
                raise _Replayed(counts.known_message_id)
            if conversation.handling != Conversation.Handling.BOT:
                limits.caps_enforce(counts=counts)
                return _message_for_person(
                    conversation, content, client_message_id, None, tokens, now
                )
            if settings.HANDOFF_ENABLED and (phrase := handoff_phrase_in(content)):
                limits.caps_enforce(counts=counts)
                return _message_for_person(
                    conversation, content, client_message_id, phrase, tokens, now
                )
            try:
                limits.message_budget_check(customer_id=customer_id, plan=plan)
            except budgets.BudgetExceeded as error:
                if settings.HANDOFF_ENABLED:  # rather than only an apology: a person can help
                    error.extra["handoff_offered"] = True
                raise
            limits.caps_enforce(counts=counts)
            countdown = debounce.reply_countdown(
                conversation=conversation, in_burst=counts.replies_in_flight_here
            )
            message = _customer_message(conversation, content, client_message_id, tokens, now)
            reply = Message(
                conversation=conversation,
                role=Message.Role.ASSISTANT,
                status=Message.Status.PENDING,
                reply_to=message,
            )
            Message.objects.bulk_create([message, reply])  # one INSERT of both rows
            transaction.on_commit(lambda: _after_commit(message, reply, countdown))
    except _Replayed as replayed:
        return _turn_replayed(replayed.message_id)
    except IntegrityError:
        # A concurrent request with the same client_message_id won the race (a conversation
        # without a customer takes no lock).
        conversation = Conversation(pk=conversation_id, customer_id=customer_id)
        if client_message_id and (known := _turn_already_started(conversation, client_message_id)):
            return known
        raise
    return TurnStarted(message=message, reply=reply, created=True)
