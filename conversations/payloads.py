"""A message as the API shows it, built without DRF: the hot path's shape.

Every turn sends this shape three to four times (the POST's 202, the live `message` events
of the question, the pending reply and the final reply); a DRF serializer costs ~10x more
CPU per call than this function. `MessageSerializer` stays the API's declared schema (and
serves the message list); tests/conversations/test_payloads.py keeps both in step.
"""

from datetime import datetime
from uuid import UUID

from django.utils import timezone

from .models import Message
from .selectors import agent_name


def _uuid(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _datetime(value: datetime | None) -> str | None:
    # As DRF renders a DateTimeField: in the current time zone, ISO 8601, UTC as "Z".
    if value is None:
        return None
    if timezone.is_aware(value):
        value = value.astimezone(timezone.get_current_timezone())
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def message_payload(message: Message, *, cited: bool = True) -> dict:
    """The fields of `conversations.serializers.MessageSerializer`, in its order.

    `cited=False`: the caller knows the reply cited nothing, so its citations are not read."""
    return {
        "id": _uuid(message.id),
        "conversation": _uuid(message.conversation_id),
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "reply_to": _uuid(message.reply_to_id),
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "latency_ms": message.latency_ms,
        "error_code": message.error_code,
        "route_reason": message.route_reason,
        "client_message_id": message.client_message_id,
        "created_at": _datetime(message.created_at),
        "completed_at": _datetime(message.completed_at),
        "token_count": message.token_count,
        "cached": message.cached,
        "merged_into": _uuid(message.merged_into_id),
        # A person's name only on staff messages: the hot path's messages read no author.
        "author_name": agent_name(message.author) if message.role == Message.Role.STAFF else "",
        "handoff_offered": message.handoff_offered,
        "citations": _citations(message) if cited else [],
    }


def _citations(message: Message) -> list[dict]:
    # Only a completed reply can have cited anything: no query for the others.
    if message.role != Message.Role.ASSISTANT or message.status != Message.Status.COMPLETED:
        return []
    return [{"number": c.number, "title": c.title, "url": c.url} for c in message.citations.all()]
