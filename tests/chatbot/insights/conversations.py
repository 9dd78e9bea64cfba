"""Conversations with known messages, ledger rows and timestamps, for the summary tests."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from conversations.models import Conversation, Message
from tests.factories import MessageFactory, ProviderCallFactory


def exchange(conversation, *, latency_ms=800, status="completed", model="gpt-test", cost="0"):
    """A customer question and the bot's reply (with its ledger row when it cost anything)."""
    question = MessageFactory(conversation=conversation, role=Message.Role.USER)
    reply = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        reply_to=question,
        status=status,
        model=model,
        latency_ms=latency_ms,
        content="An answer.",
    )
    if Decimal(cost):
        ProviderCallFactory(reply=reply, customer=conversation.customer, cost=Decimal(cost))
    return question, reply


def age(conversation, *, started_ago: timedelta, last_message_ago: timedelta) -> Conversation:
    """Move a conversation into the past: when it started and when it was last active."""
    now = timezone.now()
    Conversation.objects.filter(pk=conversation.pk).update(
        created_at=now - started_ago, last_message_at=now - last_message_ago
    )
    conversation.refresh_from_db()
    return conversation


def idle(conversation, *, hours: float = 2) -> Conversation:
    """Started 10 minutes before its last message, `hours` ago (idle past the 30 minutes)."""
    return age(
        conversation,
        started_ago=timedelta(hours=hours, minutes=10),
        last_message_ago=timedelta(hours=hours),
    )
