"""What a customer's message must pass before it is stored (docs/cost-control.md).

`message_send` calls `message_admit` before its transaction (budget, token count: nothing
is locked while tiktoken works) and `caps_check` inside it, after locking the customer's
row, so two concurrent sends by one customer are counted one after the other and a cap
cannot be overshot by racing requests.
"""

from django.conf import settings

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


def caps_check(*, conversation: Conversation) -> None:
    """Inside the send transaction: messages per conversation, replies in flight."""
    if conversation.customer_id is None:
        return
    # Serialises this customer's sends (only theirs) until the transaction ends.
    list(
        User.objects.select_for_update()
        .filter(pk=conversation.customer_id)
        .values_list("pk", flat=True)
    )
    limit = settings.CHAT_MAX_MESSAGES_PER_CONVERSATION
    if (
        limit
        and Message.objects.filter(conversation=conversation, role=Message.Role.USER).count()
        >= limit
    ):
        raise ConversationMessageLimit(
            f"This conversation has reached its limit of {limit} messages; start a new one."
        )
    limit = settings.CHAT_MAX_CONCURRENT_REPLIES
    if (
        limit
        and Message.objects.filter(
            conversation__customer_id=conversation.customer_id,
            role=Message.Role.ASSISTANT,
            status__in=[Message.Status.PENDING, Message.Status.STREAMING],
        ).count()
        >= limit
    ):
        raise TooManyPendingReplies(
            "Please wait for the answers to your earlier messages.",
            extra={"retry_after": PENDING_RETRY_AFTER_SECONDS},
        )
