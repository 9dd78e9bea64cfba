"""Builds what the model sees for one reply: system prompt, persona, recent history."""

from django.conf import settings

from accounts.selectors import ResolvedPreference
from chatbot.llm import ChatMessage, ChatRequest
from chatbot.moderation import mask_for_provider
from conversations.models import Message

from .trimming import history_trim

_ROLE_FOR_MODEL = {
    Message.Role.USER: "user",
    Message.Role.ASSISTANT: "assistant",
    Message.Role.STAFF: "assistant",  # a human agent speaks for the assistant side
}


def system_prompt_build(*, preference: ResolvedPreference) -> str:
    # Kept stable for a given user so providers' prompt caching keeps working.
    parts = [settings.CHAT_SYSTEM_PROMPT]
    if preference.persona:
        parts.append(preference.persona)
    if preference.language:
        parts.append(f"Always reply in {preference.language}.")
    return "\n\n".join(parts)


def history_for(*, reply: Message) -> list[Message]:
    """The conversation up to and including the message this reply answers."""
    question = reply.reply_to
    queryset = (
        Message.objects.filter(
            conversation_id=reply.conversation_id,
            role__in=list(_ROLE_FOR_MODEL),
            status=Message.Status.COMPLETED,
            created_at__lte=question.created_at,
        )
        .exclude(content="")
        .exclude(moderation_flags__action="blocked")  # blocked input/output never goes back
        .order_by("-created_at", "-id")
        .only("role", "content", "created_at", "token_count")
    )
    return list(reversed(queryset[: settings.CHAT_HISTORY_MESSAGES]))


def context_build(*, reply: Message, preference: ResolvedPreference, model: str) -> ChatRequest:
    messages = [ChatMessage("system", system_prompt_build(preference=preference))]
    messages += [
        ChatMessage(_ROLE_FOR_MODEL[m.role], mask_for_provider(m.content))
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
