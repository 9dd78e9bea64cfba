"""Automatic round-robin assignment (INBOX_AUTO_ASSIGN, off by default; docs/staff.md).

A conversation waiting for a person goes to an agent who is online (status online and seen
within AGENT_ONLINE_SECONDS), may take conversations over, and holds fewer open
conversations than their capacity; among those, the one assigned longest ago.

Concurrency: the chosen agent's profile row is locked (`FOR UPDATE SKIP LOCKED`) while
their load is counted and the conversation is given to them, so two assigners running at
once never both fill an agent's last slot: the second skips the locked agent and takes the
next one, or nobody. The conversation row itself is locked by conversation_assign, and a
conversation that is no longer waiting (someone took it) is left alone.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AgentProfile, User

from .models import Conversation
from .services import conversation_assign

Handling = Conversation.Handling


def _load():
    """Open conversations each agent holds (one correlated subquery)."""
    return Coalesce(
        Subquery(
            Conversation.objects.filter(
                assignee=OuterRef("user_id"),
                status=Conversation.Status.OPEN,
                handling=Handling.HUMAN,
            )
            .order_by()
            .values("assignee")
            .annotate(total=Count("pk"))
            .values("total"),
            output_field=IntegerField(),
        ),
        0,
    )


def _may_take_over():
    codename = "take_over_conversation"
    via_group = User.groups.through.objects.filter(
        user_id=OuterRef("user_id"), group__permissions__codename=codename
    )
    direct = User.user_permissions.through.objects.filter(
        user_id=OuterRef("user_id"), permission__codename=codename
    )
    return Q(user__is_superuser=True) | Q(Exists(via_group)) | Q(Exists(direct))


def conversation_auto_assign(*, conversation_id) -> User | None:
    """Give one waiting conversation to the next available agent; the agent, or None (the
    setting is off, it no longer waits, or nobody is available: it stays in the queue)."""
    if not settings.INBOX_AUTO_ASSIGN:
        return None
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.filter(
            pk=conversation_id,
            status=Conversation.Status.OPEN,
            handling=Handling.WAITING,
            assignee__isnull=True,
        ).first()
        if conversation is None:
            return None
        profile = (
            AgentProfile.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("user")
            .filter(
                _may_take_over(),
                status=AgentProfile.Status.ONLINE,
                last_seen_at__gte=now - timedelta(seconds=settings.AGENT_ONLINE_SECONDS),
                user__is_active=True,
                user__is_staff=True,
            )
            .annotate(load=_load())
            .filter(load__lt=F("capacity"))
            # Round robin: whoever was given one longest ago (or never) goes next.
            .order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
            .first()
        )
        if profile is None:
            return None
        conversation_assign(conversation=conversation, assignee=profile.user, actor=None)
        AgentProfile.objects.filter(pk=profile.pk).update(last_assigned_at=now)
        return profile.user


def conversations_auto_assign_waiting(*, limit: int = 20) -> int:
    """Offer the queue (oldest first) to available agents: run when an agent comes online
    or frees a slot (the inbox heartbeat), so nothing waits for the next handoff."""
    if not settings.INBOX_AUTO_ASSIGN:
        return 0
    waiting = Conversation.objects.filter(
        status=Conversation.Status.OPEN, handling=Handling.WAITING, assignee__isnull=True
    ).order_by("handoff_requested_at")
    assigned = 0
    for conversation_id in waiting.values_list("pk", flat=True)[:limit]:
        if conversation_auto_assign(conversation_id=conversation_id) is None:
            break  # nobody is free: the rest of the queue would find nobody either
        assigned += 1
    return assigned
