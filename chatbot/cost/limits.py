"""What a customer's message must pass before it is stored (docs/cost-control.md).

`chatbot.replies.turn.turn_start_for` counts the message's tokens (`message_tokens`) before
its transaction (nothing is locked while tiktoken works); inside it, after locking the
customer's row, it counts (`caps_count`), checks the budget (`message_budget_check`, for a
bot reply) and refuses past a cap (`caps_enforce`), so two concurrent sends by one customer
are counted one after the other and a cap cannot be overshot by racing requests.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.db.models import IntegerField, Subquery

from accounts.selectors import model_preference_resolve
from chatbot.cost.budgets import budget_check, budget_of
from chatbot.prompt.tokens import TokenCount, count_tokens
from conversations.errors import ConversationMessageLimit, TooManyPendingReplies
from conversations.models import Conversation, Message

# A client told "too many pending replies" may try again after about one reply's time.
PENDING_RETRY_AFTER_SECONDS = 2


def message_tokens(*, customer_id: uuid.UUID | None, content: str) -> TokenCount:
    """The message's tokens for the customer's model (their cached preference)."""
    return count_tokens(content, model_preference_resolve(user_id=customer_id).model)


def message_budget_check(*, customer_id: uuid.UUID | None) -> None:
    """Refuse an over-budget customer (BudgetExceeded, 429) a bot reply."""
    preference = model_preference_resolve(user_id=customer_id)
    budget_check(user_id=customer_id, budget=budget_of(preference))


class _Count(Subquery):
    """COUNT(*) of a queryset as a scalar subquery, so several counts share one statement."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


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
    send is then refused."""
    here = Message.objects.filter(conversation_id=conversation.pk)
    wanted: dict = {
        "in_flight_here": _Count(
            here.filter(role=Message.Role.ASSISTANT, status__in=_IN_FLIGHT).order_by().values("pk")
        ),
    }
    per_conversation = settings.CHAT_MAX_MESSAGES_PER_CONVERSATION
    concurrent = settings.CHAT_MAX_CONCURRENT_REPLIES
    if conversation.customer_id is not None and per_conversation:
        wanted["user_messages"] = _Count(
            here.filter(role=Message.Role.USER).order_by().values("pk")
        )
    if conversation.customer_id is not None and concurrent:
        wanted["in_flight"] = _Count(
            Message.objects.filter(
                conversation__customer_id=conversation.customer_id,
                role=Message.Role.ASSISTANT,
                status__in=_IN_FLIGHT,
            )
            .order_by()
            .values("pk")
        )
    if client_message_id:
        wanted["known_message_id"] = Subquery(
            here.filter(client_message_id=client_message_id).order_by().values("pk")[:1]
        )
    query = Conversation.objects.filter(pk=conversation.pk).values("pk").annotate(**wanted)
    if stamp_at is not None and connection.vendor == "postgresql":
        counts = _counted_with_stamp(query, conversation_pk=conversation.pk, at=stamp_at)
    else:
        counts = query.first()
        if stamp_at is not None:
            Conversation.objects.filter(pk=conversation.pk).update(
                last_message_at=stamp_at, updated_at=stamp_at
            )
    counts = counts or {}
    return SendCounts(
        replies_in_flight_here=(counts.get("in_flight_here") or 0) > 0,
        user_messages=counts.get("user_messages") or 0,
        in_flight=counts.get("in_flight") or 0,
        known_message_id=counts.get("known_message_id"),
    )


def _counted_with_stamp(query, *, conversation_pk, at: datetime) -> dict | None:
    sql, params = query.query.sql_with_params()
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        # The table name and the ORM's compiled SQL; every value is a parameter.
        stamped = f"WITH stamp AS (UPDATE {table} SET last_message_at = %s, updated_at = %s WHERE id = %s) {sql}"  # noqa: S608,E501 # nosec B608
        cursor.execute(stamped, [at, at, conversation_pk, *params])
        row = cursor.fetchone()
        names = [column.name for column in cursor.description]
    if row is None:
        return None
    counts = dict(zip(names, row, strict=True))
    if isinstance(counts.get("known_message_id"), str):
        counts["known_message_id"] = uuid.UUID(counts["known_message_id"])
    return counts


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
