"""Reads of the knowledge base that staff pages and the turn need."""

from django.db import connection

from conversations.models import Message

from . import freshness
from .models import KnowledgeGap, KnowledgeSettings
from .scope import scope_sql


def knowledge_settings_for(*, widget_key_id) -> KnowledgeSettings:
    """The key's settings, or the defaults (an unsaved instance) when it has none. Cached
    per process until the knowledge base or its settings change (freshness): read-only."""
    if widget_key_id is None:
        return KnowledgeSettings(widget_key_id=None)

    def read() -> KnowledgeSettings:
        found = KnowledgeSettings.objects.filter(widget_key_id=widget_key_id).first()
        return found if found is not None else KnowledgeSettings(widget_key_id=widget_key_id)

    return freshness.cached(f"settings:{widget_key_id}", read)


def knowledge_visible(*, widget_key_id) -> bool:
    """Whether any published article is visible to this widget key (None: to a
    conversation without one). Cached per process until the knowledge base changes
    (chatbot.knowledge.freshness): a shop without a knowledge base pays no statement."""

    def read() -> bool:
        scope, params = scope_sql(widget_key_id)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT EXISTS (SELECT 1 FROM knowledge_article a WHERE {scope})",  # noqa: S608  # nosec B608 - constant fragments
                params,
            )
            return bool(cursor.fetchone()[0])

    return freshness.cached(f"visible:{widget_key_id}", read)


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
