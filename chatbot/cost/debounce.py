"""Burst debounce: several quick messages from one customer get one answer.

A message sent while an earlier reply of the conversation is still pending or streaming (the
customer is typing faster than the bot answers) has its reply task enqueued with
`countdown=CHAT_DEBOUNCE_SECONDS` (`reply_countdown`, asked by chatbot.replies.turn); a
lone message is answered at once, so the window costs ordinary turns nothing. When a
reply's task runs and the customer has sent a LATER message in the same conversation whose
reply is still to come (pending or streaming) or already given, this reply is not generated:
it is finished `completed`, with empty content and `merged_into` = that later reply, and no
model is called. The later reply's context already holds every message of the burst
(`chatbot.prompt.context.history_for` takes all completed messages up to its own question;
merged replies are empty, so they are left out). So a burst costs one model call, and every message
still ends with exactly one final reply row.

The data model stays one reply per message (`Message.reply_to` is unique) and the API's 202
still returns one reply id per message; clients learn about the merge from the reply's
`message` event (`merged_into` set, `content` empty).

Countdown tasks sit in the worker as ETA tasks (unacked); the window is seconds, far below
the Redis broker's `visibility_timeout`. A task lost anyway is re-dispatched by the sweeper
(`REPLY_REDISPATCH_AFTER_SECONDS`, which must exceed the window).
"""

import uuid

from django.conf import settings

from conversations.models import Conversation, Message, ModerationFlag


def reply_countdown(*, conversation: Conversation, in_burst: bool | None = None) -> float | None:
    """How long a new message's reply should wait: the window while an earlier reply of the
    conversation is still to come (a burst), or None to answer at once. `in_burst`: already
    counted by the caller (chatbot.cost.limits.caps_count), no query here."""
    if not settings.CHAT_DEBOUNCE_SECONDS:
        return None
    if in_burst is not None:
        return settings.CHAT_DEBOUNCE_SECONDS if in_burst else None
    in_burst = Message.objects.filter(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status__in=[Message.Status.PENDING, Message.Status.STREAMING],
    ).exists()
    return settings.CHAT_DEBOUNCE_SECONDS if in_burst else None


# Replies that answer (or will answer) the later message, and so the whole burst.
_ANSWERING = [Message.Status.PENDING, Message.Status.STREAMING, Message.Status.COMPLETED]


def superseding_reply_id(*, reply: Message) -> uuid.UUID | None:
    """The reply this one folds into, or None when this reply must be generated."""
    if not settings.CHAT_DEBOUNCE_SECONDS or reply.reply_to_id is None:
        return None
    question_at = reply.reply_to.created_at  # loaded with the claim (select_related)
    latest = (
        Message.objects.filter(
            conversation_id=reply.conversation_id,
            role=Message.Role.USER,
            created_at__gt=question_at,
        )
        # A refused message's reply answers nothing: never fold into it.
        .exclude(
            moderation_flags__source=ModerationFlag.Source.INPUT,
            moderation_flags__action=ModerationFlag.Action.BLOCKED,
        )
        .order_by("-created_at", "-id")
        .values_list("reply__id", "reply__status")
        .first()
    )
    if latest is None or latest[0] is None or latest[1] not in _ANSWERING:
        return None
    return latest[0]
