"""Reads of the tools app, scoped to the conversation the caller was allowed to see."""

from django.conf import settings
from django.db.models import QuerySet

from chatbot.platform.generations import Generation
from conversations.models import Conversation, Message

from .models import Tool, ToolCall

# The HTTP tools each widget key offers, read on every turn: kept per process until a tool
# or its keys change (`tools_changed`, connected to their signals in apps.py).
TOOLS_GENERATION = Generation("tools:generation")

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


def http_tools_for(*, widget_key_id, identified: bool) -> tuple[Tool, ...]:
    """The enabled HTTP tools of a widget key, by name (at most TOOLS_MAX_PER_WIDGET_KEY);
    without an identified customer, only those that need no identity. Shared read-only
    between the turns of a process until a tool changes."""

    def read() -> tuple[Tool, ...]:
        tools = Tool.objects.filter(is_enabled=True, widget_keys=widget_key_id)
        if not identified:
            tools = tools.filter(needs_identity=False)
        return tuple(tools.order_by("name")[: settings.TOOLS_MAX_PER_WIDGET_KEY])

    return TOOLS_GENERATION.cached(f"http:{widget_key_id}:{identified}", read)


def tools_changed(sender=None, action: str | None = None, **kwargs) -> None:
    """Signal receiver: a tool was saved or deleted, or its widget keys changed."""
    if action is None or action in ("post_add", "post_remove", "post_clear"):
        TOOLS_GENERATION.changed()
