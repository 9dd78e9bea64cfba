"""Reads of the tools app, scoped to the conversation the caller was allowed to see."""

from django.db.models import QuerySet

from conversations.models import Conversation, Message

from .models import ToolCall

# A reply asks for at most TOOLS_MAX_CALLS_PER_ROUND confirmations; a page is plenty.
AWAITING_LIST_LIMIT = 50


def tool_call_awaiting_list(*, conversation: Conversation) -> QuerySet[ToolCall]:
    """The side effects of this conversation that still wait for the customer's answer,
    oldest first: exactly the calls `tool_call_decide` would accept, and only where the
    question stands in the record (its reply completed: a failed or replaced reply never
    showed it) and the conversation is open (a closed one refuses the turn that would run
    it). Decided calls (confirmed, cancelled, run) are never listed."""
    if conversation.status == Conversation.Status.CLOSED:
        return ToolCall.objects.none()
    return ToolCall.objects.filter(
        conversation=conversation,
        status=ToolCall.Status.AWAITING_CONFIRMATION,
        reply__status=Message.Status.COMPLETED,
    ).order_by("created_at", "id")[:AWAITING_LIST_LIMIT]
