"""What a customer's message must pass before it is stored (docs/cost-control.md).

`message_send` calls `message_admit` before its transaction (budget, token count: nothing
is locked while tiktoken works) and `caps_check` inside it, after locking the customer's
row, so two concurrent sends by one customer are counted one after the other and a cap
cannot be overshot by racing requests.
"""

from dataclasses import dataclass

from django.conf import settings
from django.db.models import IntegerField, Subquery

from accounts.models import User
from accounts.selectors import model_preference_resolve
from chatbot.cost.budgets import budget_check, budget_of
from chatbot.prompt.tokens import TokenCount, count_tokens
from conversations.errors import ConversationMessageLimit, TooManyPendingReplies
from conversations.models import Conversation, Message

# A client told "too many pending replies" may try again after about one reply's time.
PENDING_RETRY_AFTER_SECONDS = 2


def message_admit(*, conversation: Conversation, content: str, for_bot: bool = True) -> TokenCount:
    """Refuse over-budget customers (BudgetExceeded, 429); count the message's tokens.

    A message for a person (`for_bot=False`, docs/handoff.md) costs no model call: the
    budget does not stop a customer from talking to staff."""
    preference = model_preference_resolve(user_id=conversation.customer_id)
    if for_bot:
        budget_check(user_id=conversation.customer_id, budget=budget_of(preference))
    return count_tokens(content, preference.model)


class _Count(Subquery):
    """COUNT(*) of a queryset as a scalar subquery, so several counts share one statement."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _counted)"
    output_field = IntegerField()


_IN_FLIGHT = [Message.Status.PENDING, Message.Status.STREAMING]


@dataclass(frozen=True, slots=True)
class SendCounts:
    """What a send checks, counted after the customer's row is locked."""

    replies_in_flight_here: bool  # in this conversation: the burst debounce asks


def caps_check(*, conversation: Conversation) -> SendCounts:
    """Inside the send transaction: messages per conversation, replies in flight.

    One statement after the lock counts everything the send needs (the burst debounce's
    "a reply of this conversation is still to come" too)."""
    if conversation.customer_id is not None:
        # Serialises this customer's sends (only theirs) until the transaction ends. The
        # counts below are a later statement, so they see what a send before ours wrote.
        list(
            User.objects.select_for_update()
            .filter(pk=conversation.customer_id)
            .values_list("pk", flat=True)
        )
    here = Message.objects.filter(conversation_id=conversation.pk)
    wanted = {
        "in_flight_here": here.filter(role=Message.Role.ASSISTANT, status__in=_IN_FLIGHT),
    }
    per_conversation = settings.CHAT_MAX_MESSAGES_PER_CONVERSATION
    concurrent = settings.CHAT_MAX_CONCURRENT_REPLIES
    if conversation.customer_id is not None and per_conversation:
        wanted["user_messages"] = here.filter(role=Message.Role.USER)
    if conversation.customer_id is not None and concurrent:
        wanted["in_flight"] = Message.objects.filter(
            conversation__customer_id=conversation.customer_id,
            role=Message.Role.ASSISTANT,
            status__in=_IN_FLIGHT,
        )
    counts = (
        Conversation.objects.filter(pk=conversation.pk)
        .values("pk")
        .annotate(**{name: _Count(qs.order_by().values("pk")) for name, qs in wanted.items()})
        .first()
    ) or dict.fromkeys(wanted, 0)
    if counts.get("user_messages", 0) >= per_conversation > 0:
        raise ConversationMessageLimit(
            f"This conversation has reached its limit of {per_conversation} messages; "
            "start a new one."
        )
    if counts.get("in_flight", 0) >= concurrent > 0:
        raise TooManyPendingReplies(
            "Please wait for the answers to your earlier messages.",
            extra={"retry_after": PENDING_RETRY_AFTER_SECONDS},
        )
    return SendCounts(replies_in_flight_here=counts["in_flight_here"] > 0)
