"""Writes of the inbox itself (the handoff transitions are conversations.services)."""

from django.utils import timezone

from accounts.audit import audit_event_record
from accounts.models import AuditEvent, User

from ..models import Conversation, InboxReadMarker


def inbox_read_mark(*, agent: User, conversation: Conversation) -> None:
    """The agent has seen the conversation up to now (their unread count drops to 0)."""
    InboxReadMarker.objects.update_or_create(
        user=agent, conversation=conversation, defaults={"read_at": timezone.now()}
    )


def pii_reveal_record(*, agent: User, conversation: Conversation, message_ids: list[str]) -> None:
    """An agent unmasked personal data: who, which conversation, how many messages."""
    audit_event_record(
        actor=agent,
        action=AuditEvent.Action.PII_REVEAL,
        target_type="conversation",
        target_id=conversation.pk,
        detail={"messages": len(message_ids)},
    )
