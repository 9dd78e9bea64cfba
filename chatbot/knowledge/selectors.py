"""Reads of the knowledge base that staff pages and the turn need."""

from conversations.models import Message

from .models import KnowledgeGap, KnowledgeSettings


def knowledge_settings_for(*, widget_key_id) -> KnowledgeSettings:
    """The key's settings, or the defaults (an unsaved instance) when it has none."""
    if widget_key_id is not None:
        found = KnowledgeSettings.objects.filter(widget_key_id=widget_key_id).first()
        if found is not None:
            return found
    return KnowledgeSettings(widget_key_id=widget_key_id)


def gap_agent_answer(*, gap: KnowledgeGap) -> str:
    """What a person answered after the gap's latest question, in that conversation."""
    question = gap.last_message
    if question is None:
        return ""
    answer = (
        Message.objects.filter(
            conversation_id=question.conversation_id,
            role=Message.Role.STAFF,
            created_at__gt=question.created_at,
        )
        .exclude(content="")
        .order_by("created_at")
        .values_list("content", flat=True)
        .first()
    )
    return answer or ""
