"""Builds what the model sees for one reply: system prompt, persona, recent history.

Human handoff (docs/handoff.md): a staff member's messages go in as the assistant side but
marked as a person's ("[Human agent Alex]: ..."), and the handoff's steps (queued, an agent
joined, the agent handed back) go in as system lines at their place in the conversation.
So when the bot resumes it knows a person spoke, builds on it instead of repeating it, and
answers the customer's next message instead of waiting for an agent.
"""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from accounts.selectors import ResolvedPreference
from chatbot.llm import ChatMessage, ChatRequest
from chatbot.moderation import mask_for_provider
from conversations.models import ConversationEvent, Message
from conversations.selectors import agent_name

from .trimming import history_trim

_ROLE_FOR_MODEL = {
    Message.Role.USER: "user",
    Message.Role.ASSISTANT: "assistant",
    Message.Role.STAFF: "assistant",  # a human agent speaks for the assistant side
    Message.Role.SYSTEM: "system",  # handoff steps (never stored: built from the timeline)
}
_STORED_ROLES = [Message.Role.USER, Message.Role.ASSISTANT, Message.Role.STAFF]

# The timeline steps the model is told about, and how.
_HANDOFF_LINES = {
    ConversationEvent.Kind.HANDOFF_REQUESTED: (
        "[Handoff] The customer was put through to a human support agent; the assistant "
        "stayed silent meanwhile."
    ),
    ConversationEvent.Kind.TAKEN_OVER: (
        "[Handoff] Human agent {agent} joined the conversation. Messages marked "
        "[Human agent {agent}] were written by them, not by you."
    ),
    ConversationEvent.Kind.ASSIGNED: (
        "[Handoff] Human agent {agent} joined the conversation. Messages marked "
        "[Human agent {agent}] were written by them, not by you."
    ),
    ConversationEvent.Kind.PICKUP_TIMEOUT: (
        "[Handoff] No agent was available to pick up; the customer was told a person will "
        "follow up."
    ),
    ConversationEvent.Kind.RELEASED: (
        "[Handoff ended] Human agent {agent} handed the conversation back to you. You are "
        "answering again: reply to the customer's next message yourself, take what the "
        "agent said into account without repeating it, and do not say you are waiting for "
        "an agent."
    ),
}


@dataclass(slots=True)
class _Line:
    """A history item that is not a stored message (a handoff step), for trimming."""

    role: str
    content: str
    created_at: datetime
    token_count: int | None = None


def system_prompt_build(*, preference: ResolvedPreference) -> str:
    # Kept stable for a given user so providers' prompt caching keeps working.
    parts = [settings.CHAT_SYSTEM_PROMPT]
    if settings.HANDOFF_ENABLED and settings.HANDOFF_SYSTEM_PROMPT:
        parts.append(settings.HANDOFF_SYSTEM_PROMPT)
    if preference.persona:
        parts.append(preference.persona)
    if preference.language:
        parts.append(f"Always reply in {preference.language}.")
    return "\n\n".join(parts)


def _handoff_lines(*, reply: Message, since: datetime, until: datetime) -> list[_Line]:
    conversation = reply.conversation
    if conversation.handoff_requested_at is None and conversation.assigned_at is None:
        return []  # never handed to a person: no query
    events = ConversationEvent.objects.filter(
        conversation_id=reply.conversation_id,
        kind__in=list(_HANDOFF_LINES),
        created_at__gte=since,
        created_at__lte=until,
    ).order_by("created_at", "id")[: settings.CHAT_HISTORY_MESSAGES]
    return [
        _Line(
            role=Message.Role.SYSTEM,
            content=_HANDOFF_LINES[event.kind].format(
                agent=event.detail.get("assignee_name") or event.detail.get("agent_name") or "?"
            ),
            created_at=event.created_at,
        )
        for event in events
    ]


def history_for(*, reply: Message) -> list[Message]:
    """The conversation up to and including the message this reply answers, with the
    handoff's steps in their place."""
    question = reply.reply_to
    queryset = (
        Message.objects.filter(
            conversation_id=reply.conversation_id,
            role__in=_STORED_ROLES,
            status=Message.Status.COMPLETED,
            created_at__lte=question.created_at,
        )
        .exclude(content="")
        .exclude(moderation_flags__action="blocked")  # blocked input/output never goes back
        .select_related("author")
        .order_by("-created_at", "-id")
        .only(
            "role", "content", "created_at", "token_count", "author__first_name", "author__username"
        )
    )
    messages = list(reversed(queryset[: settings.CHAT_HISTORY_MESSAGES]))
    if not messages:
        return messages
    lines = _handoff_lines(reply=reply, since=messages[0].created_at, until=question.created_at)
    if not lines:
        return messages
    return sorted([*messages, *lines], key=lambda item: item.created_at)


def _content_for_model(message) -> str:
    if message.role == Message.Role.STAFF:
        return f"[Human agent {agent_name(message.author)}]: {message.content}"
    return message.content


def context_build(*, reply: Message, preference: ResolvedPreference, model: str) -> ChatRequest:
    messages = [ChatMessage("system", system_prompt_build(preference=preference))]
    messages += [
        ChatMessage(_ROLE_FOR_MODEL[m.role], mask_for_provider(_content_for_model(m)))
        for m in history_trim(
            history=history_for(reply=reply),  # token budget
            system=messages[0].content,
            model=model,
            max_tokens=preference.max_tokens,
        )
    ]
    return ChatRequest(
        model=model,
        messages=messages,
        temperature=preference.temperature,
        max_tokens=preference.max_tokens,
        user=str(reply.conversation.customer_id),
    )
