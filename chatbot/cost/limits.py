"""What a customer's message must pass before it is stored (docs/cost-control.md).

`chatbot.replies.turn.turn_start_for` counts the message's tokens (`send_plan`) before
its transaction (nothing is locked while tiktoken works); inside it, after locking the
customer's row, it counts (`caps_count`), checks the budget (`message_budget_check`, for a
bot reply) and refuses past a cap (`caps_enforce`), so two concurrent sends by one customer
are counted one after the other and a cap cannot be overshot by racing requests.
"""

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection

from accounts.selectors import ResolvedPreference, model_preference_resolve
from chatbot.cost.budgets import budget_check, budget_of
from chatbot.prompt.tokens import TokenCount, count_tokens
from conversations.errors import ConversationMessageLimit, TooManyPendingReplies
from conversations.models import Conversation, Message

# A client told "too many pending replies" may try again after about one reply's time.
PENDING_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True, slots=True)
class SendPlan:
    """What a send needs from the customer's preference, resolved once (a cache read)."""

    preference: ResolvedPreference
    tokens: TokenCount  # the message's tokens for the customer's model


def send_plan(*, customer_id: uuid.UUID | None, content: str) -> SendPlan:
    preference = model_preference_resolve(user_id=customer_id)
    return SendPlan(preference=preference, tokens=count_tokens(content, preference.model))


def message_budget_check(*, customer_id: uuid.UUID | None, plan: SendPlan) -> None:
    """Refuse an over-budget customer (BudgetExceeded, 429) a bot reply."""
    budget_check(user_id=customer_id, budget=budget_of(plan.preference))


_IN_FLIGHT = [Message.Status.PENDING, Message.Status.STREAMING]


@dataclass(frozen=True, slots=True)
class SendCounts:
    """What a send checks, counted after the customer's row is locked."""

    replies_in_flight_here: bool  # in this conversation: the burst debounce asks
    user_messages: int = 0
    in_flight: int = 0  # the customer's replies in flight, every conversation
    # The message already stored under the request's client_message_id (a retried POST).
    known_message_id: uuid.UUID | None = None


def caps_count(
    *,
    conversation: Conversation,
    client_message_id: str | None = None,
    stamp_at: datetime | None = None,
) -> SendCounts:
    """Everything a send checks, in one statement after the customer's row lock.

    The counts must be a statement after the lock's, so they see what a send before ours
    wrote. With `client_message_id`, the message already stored under it is looked up in the
    same statement. With `stamp_at`, the conversation's `last_message_at`/`updated_at` are
    set too: in the same statement on Postgres (a data-modifying CTE, run once whatever the
    query reads), in a second one elsewhere; the caller's transaction rolls it back if the
    send is then refused.

    The SQL is written out (built once per process and shape) rather than composed with
    the ORM: composing and compiling these sub-selects cost more CPU than running them."""
    customer_id = conversation.customer_id
    per_conversation = bool(settings.CHAT_MAX_MESSAGES_PER_CONVERSATION)
    concurrent = bool(settings.CHAT_MAX_CONCURRENT_REPLIES)
    stamp_inline = stamp_at is not None and connection.vendor == "postgresql"
    shape = _CapsShape(
        user_messages=customer_id is not None and per_conversation,
        in_flight=customer_id is not None and concurrent,
        known_message=bool(client_message_id),
        stamp=stamp_inline,
    )
    conversation_pk = _uuid_param(conversation.pk)
    params: list = []
    if stamp_inline:
        params += [stamp_at, stamp_at, conversation_pk]
    params += [conversation_pk, *_IN_FLIGHT]
    if shape.user_messages:
        params.append(conversation_pk)
    if shape.in_flight:
        params += [_uuid_param(customer_id), *_IN_FLIGHT]
    if shape.known_message:
        params += [conversation_pk, client_message_id]
    with connection.cursor() as cursor:
        cursor.execute(_caps_sql(shape), params)
        row = cursor.fetchone()
    if stamp_at is not None and not stamp_inline:
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=stamp_at, updated_at=stamp_at
        )
    in_flight_here, user_messages, in_flight, known = row
    return SendCounts(
        replies_in_flight_here=in_flight_here > 0,
        user_messages=user_messages,
        in_flight=in_flight,
        known_message_id=uuid.UUID(str(known)) if known is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _CapsShape:
    user_messages: bool
    in_flight: bool
    known_message: bool
    stamp: bool


def _uuid_param(value: uuid.UUID | str):
    """A UUID as this database stores it (native on Postgres, 32 hex digits on SQLite)."""
    return Message._meta.pk.get_db_prep_value(value, connection)


@functools.cache
def _caps_sql(shape: _CapsShape) -> str:
    """caps_count's statement for one shape. Only table names and the role constants are
    written into it; the values are parameters, in this order: [stamp: at, at,
    conversation], conversation, in-flight statuses, [conversation], [customer, in-flight
    statuses], [conversation, client_message_id]."""
    names = {
        "messages": connection.ops.quote_name(Message._meta.db_table),
        "conversations": connection.ops.quote_name(Conversation._meta.db_table),
        "assistant": Message.Role.ASSISTANT.value,
        "user": Message.Role.USER.value,
    }
    columns = [
        _CAPS_IN_FLIGHT_HERE,
        _CAPS_USER_MESSAGES if shape.user_messages else "0",
        _CAPS_IN_FLIGHT if shape.in_flight else "0",
        _CAPS_KNOWN_MESSAGE if shape.known_message else "NULL",
    ]
    statement = (_CAPS_STAMP if shape.stamp else "") + "SELECT " + ", ".join(columns)
    return statement.format(**names)  # the %s placeholders are the driver's


_CAPS_STAMP = (
    "WITH stamp AS (UPDATE {conversations} SET last_message_at = %s, updated_at = %s"
    " WHERE id = %s) "
)
_CAPS_IN_FLIGHT_HERE = (
    "(SELECT COUNT(*) FROM {messages} WHERE conversation_id = %s"
    " AND role = '{assistant}' AND status IN (%s, %s))"
)
_CAPS_USER_MESSAGES = (
    "(SELECT COUNT(*) FROM {messages} WHERE conversation_id = %s AND role = '{user}')"
)
_CAPS_IN_FLIGHT = (
    "(SELECT COUNT(*) FROM {messages} m JOIN {conversations} c ON m.conversation_id = c.id"
    " WHERE c.customer_id = %s AND m.role = '{assistant}' AND m.status IN (%s, %s))"
)
_CAPS_KNOWN_MESSAGE = (
    "(SELECT id FROM {messages} WHERE conversation_id = %s AND client_message_id = %s LIMIT 1)"
)


def caps_enforce(*, counts: SendCounts) -> None:
    """Refuse a send past the per-conversation or the in-flight cap."""
    per_conversation = settings.CHAT_MAX_MESSAGES_PER_CONVERSATION
    concurrent = settings.CHAT_MAX_CONCURRENT_REPLIES
    if counts.user_messages >= per_conversation > 0:
        raise ConversationMessageLimit(
            f"This conversation has reached its limit of {per_conversation} messages; "
            "start a new one."
        )
    if counts.in_flight >= concurrent > 0:
        raise TooManyPendingReplies(
            "Please wait for the answers to your earlier messages.",
            extra={"retry_after": PENDING_RETRY_AFTER_SECONDS},
        )
