"""Running a real turn in-process (eager task, real stub, Postgres, Redis) and reading what
the customer could have seen: the live events published for the conversation."""

import json

import redis
from django.conf import settings

from chatbot.replies.turn import turn_start
from conversations.models import Message


def turn(conversation, content, capture) -> Message:
    """Send a message and run its reply task eagerly (on commit); return the reply."""
    with capture(execute=True):
        result = turn_start(conversation=conversation, content=content)
    return Message.objects.get(pk=result.reply.id)


def published(conversation_id) -> list[tuple[str, dict]]:
    """Every live event of the conversation (what an SSE client receives)."""
    client = redis.Redis.from_url(settings.EVENT_BUS_URL)
    entries = client.xrange(f"chatdesk:events:{conversation_id}")
    return [(fields[b"e"].decode(), json.loads(fields[b"d"])) for _id, fields in entries]


def customer_visible_text(conversation_id) -> str:
    """All text an SSE client was sent: every delta, and every final message."""
    parts = []
    for event, data in published(conversation_id):
        if event == "delta":
            parts.append(data["text"])
        elif event in ("message", "error"):
            parts.append(json.dumps(data, ensure_ascii=False))
    return "\n".join(parts)


def deltas_for(conversation_id, reply_id) -> list[str]:
    return [
        d["text"]
        for e, d in published(conversation_id)
        if e == "delta" and d["reply_id"] == str(reply_id)
    ]
