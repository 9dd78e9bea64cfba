"""Reads, always scoped to the requesting customer."""

from django.db.models import Q, QuerySet

from accounts.models import User

from .models import Conversation, Message


def conversation_list(*, customer: User) -> QuerySet[Conversation]:
    return Conversation.objects.filter(customer=customer).order_by(
        "-last_message_at", "-created_at"
    )


def message_list(
    *, conversation: Conversation, after: Message | None = None, limit: int = 100
) -> list[Message]:
    """Messages in order; with `after`, only those that come later (for polling)."""
    queryset = (
        Message.objects.filter(conversation=conversation)
        .order_by("created_at", "id")
        .prefetch_related("citations")  # the replies' knowledge-base sources, one query
    )
    if after is not None:
        queryset = queryset.filter(
            Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id)
        )
    return list(queryset[:limit])


def message_get(*, conversation: Conversation, message_id) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).first()
