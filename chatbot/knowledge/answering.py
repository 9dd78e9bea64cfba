"""The knowledge base in a turn: the sources a reply is given, and whether its answer cites
them (chatbot.replies.pipeline calls these; chatbot.prompt.context writes the sources).

    knowledge_for_turn(question=..., widget_key_id=...) -> TurnKnowledge
    answer_verdict(text=..., source_count=...) -> AnswerVerdict

Knowledge-only mode (KnowledgeSettings.answer_only_from_kb, per widget key): with no source
scoring at least `min_score` the bot does not call the model; it says it does not know and
offers a person. An answer that cites no source, or a number it was not given, is
unsupported: flagged for review, and (with `replace_unsupported`) replaced by the fallback.
"""

import logging
from dataclasses import dataclass, field

from django.conf import settings

from chatbot.llm import KnowledgeSource
from conversations.models import Message, ModerationFlag

from .models import KnowledgeGap, KnowledgeSettings
from .retrieval import knowledge_search
from .scope import Hit
from .segment import has_chinese
from .selectors import knowledge_settings_for, knowledge_visible
from .services import (
    articles_retrieved_record,
    citations_record,
    cited_numbers,
    knowledge_gap_record,
)

logger = logging.getLogger(__name__)

UNSUPPORTED_CATEGORY = "unsupported_answer"


@dataclass(slots=True)
class TurnKnowledge:
    settings: KnowledgeSettings
    hits: list[Hit] = field(default_factory=list)

    @property
    def only_from_kb(self) -> bool:
        return self.settings.answer_only_from_kb

    def sources(self) -> tuple[KnowledgeSource, ...]:
        return tuple(
            KnowledgeSource(
                number=number,
                title=hit.title,
                text=hit.text,
                heading=hit.heading,
                url=hit.url,
                chunk_id=hit.chunk_id,
            )
            for number, hit in enumerate(self.hits, start=1)
        )


def knowledge_for_turn(*, question: str, widget_key_id) -> TurnKnowledge:
    """Search the knowledge base for this turn's question, within the key's scope. Reads
    only: what the turn used is written with the reply (`turn_knowledge_record`), so the
    time to the first token pays no extra commit."""
    kb_settings = knowledge_settings_for(widget_key_id=widget_key_id)
    hits = [
        hit
        for hit in knowledge_search(
            query=question, widget_key_id=widget_key_id, limit=settings.KNOWLEDGE_SOURCES_PER_TURN
        )
        if hit.score >= kb_settings.min_score
    ]
    return TurnKnowledge(settings=kb_settings, hits=hits)


def turn_knowledge_record(
    *, knowledge: TurnKnowledge, given: tuple[KnowledgeSource, ...], question: Message
) -> None:
    """Usage of the sources the reply was given; or, when nothing was found while the key
    can see articles, the question as a knowledge gap. Called in the reply's transaction."""
    if given:
        by_chunk = {hit.chunk_id: hit for hit in knowledge.hits}
        articles_retrieved_record(hits=[by_chunk[s.chunk_id] for s in given])
    elif not knowledge.hits and knowledge_visible(widget_key_id=knowledge.settings.widget_key_id):
        knowledge_gap_record(
            question=question.content,
            reason=KnowledgeGap.Reason.NO_MATCH,
            widget_key_id=knowledge.settings.widget_key_id,
            message=question,
        )


def fallback_text(*, knowledge: TurnKnowledge, question: str) -> str:
    if knowledge.settings.fallback_text:
        return knowledge.settings.fallback_text
    if has_chinese(question):
        return settings.KNOWLEDGE_FALLBACK_TEXT_ZH
    return settings.KNOWLEDGE_FALLBACK_TEXT


@dataclass(frozen=True, slots=True)
class AnswerVerdict:
    cited: list[int]  # numbers cited that were given
    invalid: list[int]  # numbers cited that were not given

    @property
    def supported(self) -> bool:
        return bool(self.cited) and not self.invalid


def answer_verdict(*, text: str, source_count: int) -> AnswerVerdict:
    numbers = cited_numbers(text)
    return AnswerVerdict(
        cited=[n for n in numbers if 1 <= n <= source_count],
        invalid=[n for n in numbers if not 1 <= n <= source_count],
    )


def reply_citations_record(
    *, reply: Message, knowledge: TurnKnowledge, given: tuple[KnowledgeSource, ...], text: str
):
    """Store what the reply cited; `given` are the sources as numbered in its context."""
    by_chunk = {hit.chunk_id: hit for hit in knowledge.hits}
    return citations_record(reply=reply, sources=[by_chunk[s.chunk_id] for s in given], text=text)


def unsupported_answer_record(
    *, reply: Message, verdict: AnswerVerdict, original: str, replaced: bool, question: str
) -> None:
    """Flag an answer that cited no given source, for staff review (and as a gap)."""
    why = (
        f"cited sources that were not given: {verdict.invalid}"
        if verdict.invalid
        else "cited no source"
    )
    ModerationFlag.objects.create(
        message=reply,
        source=ModerationFlag.Source.OUTPUT,
        categories=[UNSUPPORTED_CATEGORY],
        rule=f"knowledge-only mode: the answer {why}",
        action=ModerationFlag.Action.BLOCKED if replaced else ModerationFlag.Action.FLAGGED,
        excerpt=original[:4000],
    )
    knowledge_gap_record(
        question=question,
        reason=KnowledgeGap.Reason.UNSUPPORTED,
        widget_key_id=reply.conversation.widget_key_id,
        message=reply.reply_to,
    )
    logger.info(
        "reply %s: unsupported answer (%s)%s", reply.pk, why, ", replaced" if replaced else ""
    )
