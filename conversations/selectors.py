"""Reads, always scoped to the requesting customer (or, for staff-only reads, said so)."""

import statistics
from datetime import timedelta

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User

from .models import Conversation, ConversationEvent, Message, ModerationFlag

# The estimated wait is the median of recent pickups; shown only with enough of them.
PICKUP_SAMPLE = 20
PICKUP_SAMPLE_MIN = 3
PICKUP_SAMPLE_DAYS = 7


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
        .select_related("author__agent_profile")  # a staff message shows its author's name
        .order_by("created_at", "id")
    )
    if after is not None:
        queryset = queryset.filter(
            Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id)
        )
    messages = list(queryset[:limit])
    # The completed replies' knowledge-base sources: one query, none when there is no reply.
    prefetch_related_objects(
        [
            m
            for m in messages
            if m.role == Message.Role.ASSISTANT and m.status == Message.Status.COMPLETED
        ],
        "citations",
    )
    return messages


def message_get(*, conversation: Conversation, message_id) -> Message | None:
    return Message.objects.filter(conversation=conversation, pk=message_id).first()


def agent_name(user: User | None) -> str:
    """The name customers see for a staff member: their agent profile's public name, else
    their first name, else the username. Load messages with
    `select_related("author__agent_profile")` to read it without a query per author."""
    if user is None:
        return ""
    try:
        public_name = user.agent_profile.public_name
    except ObjectDoesNotExist:
        public_name = ""
    return agent_display_name(
        public_name=public_name, first_name=user.first_name, username=user.get_username()
    )


def agent_display_name(*, public_name: str | None, first_name: str, username: str) -> str:
    """`agent_name` from the columns themselves (None: the user has no agent profile), for
    reads that select them without building model instances."""
    return (public_name or "").strip() or first_name.strip() or username


def handoff_estimated_wait_seconds() -> int | None:
    """Median time to pickup over the recent handoffs, or None without enough history."""
    since = timezone.now() - timedelta(days=PICKUP_SAMPLE_DAYS)
    samples = [
        seconds
        for seconds in ConversationEvent.objects.filter(
            kind__in=[ConversationEvent.Kind.ASSIGNED, ConversationEvent.Kind.TAKEN_OVER],
            created_at__gte=since,
            detail__has_key="pickup_seconds",
        )
        .order_by("-created_at")
        .values_list("detail__pickup_seconds", flat=True)[:PICKUP_SAMPLE]
        if isinstance(seconds, int | float)
    ]
    if len(samples) < PICKUP_SAMPLE_MIN:
        return None
    return int(statistics.median(samples))


def open_flags_subquery():
    """The number of open moderation flags of each conversation (one subquery, no join)."""
    # Driven from the conversation's messages (index msg_conv_order), then each message's
    # flags (their message_id index): a handful of index lookups per row, whatever the
    # size of the flag table.
    return Coalesce(
        Subquery(
            Message.objects.filter(
                conversation=OuterRef("pk"),
                moderation_flags__review_status=ModerationFlag.ReviewStatus.OPEN,
            )
            .order_by()
            .values("conversation")
            .annotate(total=Count("moderation_flags"))
            .values("total"),
            output_field=IntegerField(),
        ),
        0,
    )
