"""Writes of the tools app: the customer's decision on a side effect, a tool's secret."""

from django.db import transaction

from accounts.models import User
from chatbot.platform import crypto

from .errors import ToolCallAlreadyDecided, ToolCallNotFound
from .models import Tool, ToolCall


def tool_call_decide(*, tool_call_id, customer: User, confirm: bool) -> ToolCall:
    """The customer confirms or cancels a side effect the model asked for.

    A conditional UPDATE (awaiting → confirmed | cancelled): deciding twice, or a decision
    racing another, changes nothing the second time (409). Only the conversation's own
    customer may decide (404 for anyone else). Call inside a transaction that also starts
    the turn which runs a confirmed call (chatbot.tools.api)."""
    row = (
        ToolCall.objects.select_for_update()
        .select_related("conversation")
        .filter(pk=tool_call_id, conversation__customer=customer)
        .first()
    )
    if row is None:
        raise ToolCallNotFound("No such action awaits your confirmation.")
    if row.status != ToolCall.Status.AWAITING_CONFIRMATION:
        raise ToolCallAlreadyDecided(f"This action was already handled ({row.status}).")
    row.status = ToolCall.Status.CONFIRMED if confirm else ToolCall.Status.CANCELLED
    if not confirm:
        row.arguments_encrypted = ""  # never to run: nothing to keep
    row.save(update_fields=["status", "arguments_encrypted"])
    return row


def tool_call_attach_run(*, tool_call: ToolCall, reply_id) -> None:
    """The turn that runs a confirmed call (its pending reply)."""
    ToolCall.objects.filter(pk=tool_call.pk, status=ToolCall.Status.CONFIRMED).update(
        run_by_reply_id=reply_id
    )


def tool_set_auth_header(*, tool: Tool, value: str, save: bool = True) -> None:
    """Store (encrypted) or clear the auth header's value; it is never shown again."""
    tool.auth_header_encrypted = crypto.encrypt(value) if value else ""
    if save:
        with transaction.atomic():
            tool.save(update_fields=["auth_header_encrypted", "updated_at"])
