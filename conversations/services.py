"""Writes to conversations as records.

A turn (the customer's message and the bot's reply) is started and finished by the engine:
chatbot.replies.turn and chatbot.replies.lifecycle.
"""

import uuid

from accounts.models import User

from .models import Conversation


def conversation_create(
    *, customer: User, widget_key_id: uuid.UUID | None = None, title: str = ""
) -> Conversation:
    return Conversation.objects.create(
        customer=customer, widget_key_id=widget_key_id, title=title.strip()[:200]
    )


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()[:200]
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_close(*, conversation: Conversation) -> Conversation:
    conversation.status = Conversation.Status.CLOSED
    conversation.save(update_fields=["status", "updated_at"])
    return conversation
