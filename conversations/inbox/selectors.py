"""Reads for the staff inbox, scoped to the asking agent (their views, their read markers).

The list is one SQL statement whatever the page size: everything a row shows (customer,
assignee, last message, open flags, unread count) comes from joins and correlated
subqueries that Postgres evaluates for the page's rows only, after the ordering and LIMIT
on indexed columns (conv_inbox_queue, conv_inbox_assignee, conv_recent).
"""

from datetime import UTC, datetime

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce

from accounts.display import DISPLAY_FIELDS
from accounts.models import User

from ..models import (
    CannedReply,
    Conversation,
    ConversationEvent,
    Feedback,
    InboxReadMarker,
    Message,
    ModerationFlag,
)
from ..selectors import open_flags_subquery

Handling = Conversation.Handling
OPEN = Conversation.Status.OPEN

# Each view: its filter and its order. Queues put whoever has waited longest first;
# the bot and closed views show the latest activity first (nobody is waiting there).
VIEWS = ("mine", "unassigned", "waiting", "bot", "followup", "closed")
_QUEUE_ORDER = (F("handoff_requested_at").asc(nulls_last=True), "last_message_at", "id")
_RECENT_ORDER = ("-last_message_at", "-id")

# Messages a row previews and counts as unread: what people said, not bookkeeping.
_SPOKEN = Q(role__in=[Message.Role.USER, Message.Role.ASSISTANT, Message.Role.STAFF])
PREVIEW_CHARS = 140


def _view_filter(view: str, agent: User) -> Q:
    return {
        "mine": Q(status=OPEN, assignee=agent),
        "unassigned": Q(
            status=OPEN, assignee__isnull=True, handling__in=[Handling.WAITING, Handling.FOLLOWUP]
        ),
        "waiting": Q(status=OPEN, handling=Handling.WAITING),
        "bot": Q(status=OPEN, handling=Handling.BOT),
        "followup": Q(status=OPEN, handling=Handling.FOLLOWUP),
        "closed": Q(status=Conversation.Status.CLOSED),
    }[view]


def _order(view: str):
    return _RECENT_ORDER if view in ("bot", "closed") else _QUEUE_ORDER


def _last_message(field: str):
    return Subquery(
        Message.objects.filter(_SPOKEN, conversation=OuterRef("pk"))
        .order_by("-created_at", "-id")
        .values(field)[:1]
    )


def _row_queryset(agent: User) -> QuerySet[Conversation]:
    read_at = InboxReadMarker.objects.filter(user=agent, conversation=OuterRef("pk")).values(
        "read_at"
    )[:1]
    unread = (
        Message.objects.filter(
            conversation=OuterRef("pk"),
            role=Message.Role.USER,
            created_at__gt=OuterRef("agent_read_at"),
        )
        .order_by()
        .values("conversation")
        .annotate(total=Count("pk"))
        .values("total")
    )
    epoch = Value(datetime(2000, 1, 1, tzinfo=UTC), output_field=DateTimeField())
    return (
        Conversation.objects.select_related("customer", "assignee")
        .only(
            "id",
            "title",
            "status",
            "handling",
            "handoff_requested_at",
            "assigned_at",
            "last_message_at",
            "followup_email",
            *(f"customer__{f}" for f in DISPLAY_FIELDS),
            "assignee__id",
            "assignee__username",
            "assignee__first_name",
            "assignee__last_name",
        )
        .annotate(
            agent_read_at=Coalesce(Subquery(read_at), epoch),
            last_text=_last_message("content"),
            last_role=_last_message("role"),
            unread_total=Coalesce(Subquery(unread, output_field=IntegerField()), 0),
        )
    )


def inbox_conversations(
    *, agent: User, view: str, limit: int | None = None, ids=None
) -> list[Conversation]:
    """The rows of one view, ordered, at most `limit`. With `ids`: only those of them that
    are (still) in the view, which is how the live list refreshes the rows an event named."""
    if view not in VIEWS:
        raise ValueError(view)
    queryset = _row_queryset(agent).filter(_view_filter(view, agent)).order_by(*_order(view))
    if ids is not None:
        queryset = queryset.filter(pk__in=list(ids))
    rows = list(queryset[: limit or settings.INBOX_PAGE_SIZE])
    _attach_open_flags(rows)
    return rows


def _attach_open_flags(rows: list[Conversation]) -> None:
    """Open flags of the page's rows in one more query (a per-row subquery made the planner
    hash the whole flag table once per row)."""
    counts = (
        dict(
            ModerationFlag.objects.filter(
                review_status=ModerationFlag.ReviewStatus.OPEN,
                message__conversation_id__in=[row.pk for row in rows],
            )
            .order_by()
            .values_list("message__conversation_id")
            .annotate(total=Count("pk"))
        )
        if rows
        else {}
    )
    for row in rows:
        row.open_flag_total = counts.get(row.pk, 0)


def inbox_counts(*, agent: User) -> dict[str, int]:
    """How many conversations each view holds (open ones; closed is not counted). One query."""
    counts = Conversation.objects.filter(status=OPEN).aggregate(
        **{
            view: Count("pk", filter=_view_filter(view, agent))
            for view in VIEWS
            if view != "closed"
        }
    )
    return {view: counts.get(view) or 0 for view in VIEWS}


def waiting_since(conversation: Conversation) -> datetime | None:
    """Since when someone has been waiting for a person (queues), else None."""
    if conversation.status != OPEN or conversation.handling == Handling.BOT:
        return None
    return conversation.handoff_requested_at


def conversation_for_staff(*, conversation_id) -> Conversation | None:
    """Any conversation: every agent sees the whole inbox (scope is the inbox permission)."""
    return (
        Conversation.objects.select_related("customer", "assignee", "widget_key")
        .annotate(open_flag_total=open_flags_subquery())
        .filter(pk=conversation_id)
        .first()
    )


def transcript(*, conversation: Conversation, limit: int = 500) -> list[Message]:
    """The latest `limit` messages, oldest first, with authors and open-flag counts."""
    messages = list(
        Message.objects.filter(conversation=conversation)
        .select_related("author__agent_profile")
        .annotate(
            open_flags=Count(
                "moderation_flags",
                filter=Q(moderation_flags__review_status="open"),
            )
        )
        .order_by("-created_at", "-id")[:limit]
    )
    messages.reverse()
    return messages


def timeline(*, conversation: Conversation) -> list[ConversationEvent]:
    """Every event, internal notes included (staff only)."""
    return list(
        ConversationEvent.objects.filter(conversation=conversation)
        .select_related("actor")
        .order_by("created_at", "id")
    )


def earlier_conversations(*, conversation: Conversation, limit: int = 10) -> list[Conversation]:
    if conversation.customer_id is None:
        return []
    return list(
        Conversation.objects.filter(customer_id=conversation.customer_id)
        .exclude(pk=conversation.pk)
        .only("id", "title", "status", "handling", "last_message_at")
        .order_by("-last_message_at")[:limit]
    )


def feedback_for(*, conversation: Conversation) -> list[Feedback]:
    return list(Feedback.objects.filter(conversation=conversation).order_by("created_at"))


def canned_reply_list() -> list[CannedReply]:
    return list(CannedReply.objects.order_by("shortcut", "language"))


def staff_assignable() -> QuerySet[User]:
    """Who a conversation can be given to: active staff who may use the inbox."""
    inbox_perm = Q(groups__permissions__codename="use_inbox") | Q(
        user_permissions__codename="use_inbox"
    )
    return (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(inbox_perm | Q(is_superuser=True))
        .select_related("agent_profile")
        .distinct()
        .order_by("first_name", "username")
    )
