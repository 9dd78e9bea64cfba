"""Writes to the knowledge base: articles (cut into indexed chunks), usage, citations, gaps."""

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F

from conversations.handoff_rules import handoff_phrase_in
from conversations.models import Conversation, Message

from . import freshness
from .chunking import article_chunk
from .index import chunks_index, chunks_unindex
from .models import Article, Chunk, Citation, KnowledgeGap, Source
from .scope import Hit
from .segment import has_chinese
from .selectors import knowledge_visible


def search_config_for(language: str) -> str:
    """Postgres stems English; every other language is searched word for word."""
    return (
        Article.SearchConfig.ENGLISH
        if language.lower().split("-")[0] == "en"
        else Article.SearchConfig.SIMPLE
    )


def language_guess(text: str) -> str:
    return "zh" if has_chinese(text) else "en"


def content_hash(*, title: str, body: str, language: str, tags: list[str], public_url: str) -> str:
    payload = json.dumps([title, body, language, sorted(tags), public_url], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SaveResult:
    article: Article
    outcome: str  # added | updated | unchanged


def _chunks_rebuild(article: Article) -> list[Chunk]:
    old_ids = list(article.chunks.values_list("pk", flat=True))
    chunks_unindex(chunk_ids=old_ids)
    article.chunks.all().delete()
    chunks = Chunk.objects.bulk_create(
        [
            Chunk(
                article=article,
                position=draft.position,
                heading_path=draft.heading_path,
                text=draft.text,
                token_count=draft.token_count,
            )
            for draft in article_chunk(body=article.body)
        ]
    )
    if chunks and chunks[0].pk is None:  # backends that return no ids from bulk_create
        chunks = list(article.chunks.order_by("position"))
    chunks_index(article=article, chunks=chunks)
    return chunks


def _embeddings_enqueue(chunks: list[Chunk]) -> None:
    from . import embeddings

    if not chunks or not embeddings.enabled():
        return
    from .tasks import embed_chunks

    ids = [c.pk for c in chunks]
    transaction.on_commit(lambda: embed_chunks.delay(ids))


@transaction.atomic
def article_save(
    *,
    title: str,
    body: str,
    language: str = "",
    tags: Iterable[str] = (),
    public_url: str = "",
    published: bool = True,
    source: Source | None = None,
    external_id: str = "",
    article: Article | None = None,
    widget_key_ids: Iterable | None = None,
) -> SaveResult:
    """Create or update an article and (re)cut its chunks when its content changed.

    With `source` and `external_id`, the article is found by them (an import); with
    `article`, that one is updated (the admin). Unchanged content: nothing is re-cut.
    `widget_key_ids` None leaves the restriction as it is; [] lifts it."""
    title = " ".join(title.split())[:300]
    if not title:
        raise ValueError("an article needs a title")
    if not body.strip():
        raise ValueError(f"article {title!r} has no text")
    language = language or language_guess(f"{title}\n{body}")
    tags = [str(t).strip() for t in tags if str(t).strip()]
    digest = content_hash(
        title=title, body=body, language=language, tags=tags, public_url=public_url
    )
    if article is None and source is not None and external_id:
        article = (
            Article.objects.select_for_update()
            .filter(source=source, external_id=external_id)
            .first()
        )
    outcome = "added" if article is None else "updated"
    if article is None:
        article = Article(source=source, external_id=external_id)
    elif article.content_hash == digest and article.published == published:
        if widget_key_ids is not None:
            article.widget_keys.set(list(widget_key_ids))
        return SaveResult(article, "unchanged")
    changed = article.content_hash != digest
    article.title = title
    article.body = body
    article.language = language
    article.search_config = search_config_for(language)
    article.tags = tags
    article.public_url = public_url
    article.published = published
    article.content_hash = digest
    article.save()
    if widget_key_ids is not None:
        article.widget_keys.set(list(widget_key_ids))
    if changed or outcome == "added":
        _embeddings_enqueue(_chunks_rebuild(article))
    return SaveResult(article, outcome)


def article_reindex(*, article: Article) -> int:
    """Re-cut and re-index one article (after an edit in the admin, or a settings change)."""
    with transaction.atomic():
        article.search_config = search_config_for(article.language)
        article.content_hash = content_hash(
            title=article.title,
            body=article.body,
            language=article.language,
            tags=list(article.tags),
            public_url=article.public_url,
        )
        article.save()
        chunks = _chunks_rebuild(article)
        _embeddings_enqueue(chunks)
    return len(chunks)


def articles_unpublish_missing(*, source: Source, keep_external_ids: set[str]) -> int:
    """Articles of `source` not in this import any more are unpublished (never deleted:
    citations to them stay readable)."""
    count = (
        Article.objects.filter(source=source, published=True)
        .exclude(external_id__in=keep_external_ids)
        .update(published=False)
    )
    if count:
        freshness.changed()  # a bulk update sends no post_save
    return count


def articles_retrieved_record(*, hits: list[Hit]) -> None:
    article_ids = {h.article_id for h in hits}
    if article_ids:
        Article.objects.filter(pk__in=article_ids).update(retrieved_count=F("retrieved_count") + 1)


_CITATION = re.compile(r"\[(\d{1,2})\]")


def cited_numbers(text: str) -> list[int]:
    """The source numbers a reply cites ("[1]", "[2][3]"), in order of first mention."""
    return list(dict.fromkeys(int(n) for n in _CITATION.findall(text)))


def citations_record(*, reply, sources: list[Hit], text: str) -> list[Citation]:
    """Store the reply's citations of the sources it was given; numbers outside them are
    ignored here (the caller decides whether the answer is unsupported)."""
    citations = []
    for number in cited_numbers(text):
        if 1 <= number <= len(sources):
            hit = sources[number - 1]
            citations.append(
                Citation(
                    reply=reply,
                    number=number,
                    chunk_id=hit.chunk_id,
                    article_id=hit.article_id,
                    title=hit.title,
                    url=hit.url,
                )
            )
    if not citations:
        return []
    with transaction.atomic():
        created = Citation.objects.bulk_create(citations, ignore_conflicts=True)
        Article.objects.filter(pk__in={c.article_id for c in citations}).update(
            cited_count=F("cited_count") + 1
        )
    return created


def normalise_question(text: str) -> str:
    """Lower-cased, accents and punctuation dropped, spaces collapsed: what groups a gap."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())[:500]


def knowledge_gap_record(
    *, question: str, reason: str, widget_key_id=None, message=None
) -> KnowledgeGap | None:
    """Count the question as a gap: in the gap of the same normalised text, and in the group
    that gap was found to belong to (`knowledge_gap_group`); a new wording is grouped by
    meaning after commit, in Celery, when embeddings are configured."""
    normalized = normalise_question(question)
    if not normalized:
        return None
    gap, created = KnowledgeGap.objects.get_or_create(
        normalized_text=normalized,
        defaults={
            "question": question[:2000],
            "reason": reason,
            "widget_key_id": widget_key_id,
            "last_message": message,
        },
    )
    if created:
        _gap_group_enqueue(gap)
        return gap
    # The same message seen again (nothing retrieved, then a handoff) is one question: the
    # new reason is kept, the count is not raised.
    seen = 0 if message is not None and gap.last_message_id == message.pk else 1
    counted = [gap.pk, gap.grouped_into_id] if gap.grouped_into_id else [gap.pk]
    KnowledgeGap.objects.filter(pk__in=counted).update(
        count=F("count") + seen, reason=reason, last_message=message
    )
    KnowledgeGap.objects.filter(pk=gap.pk).update(question=question[:2000])
    gap.refresh_from_db()
    return gap


def _gap_group_enqueue(gap: KnowledgeGap) -> None:
    from . import embeddings

    if not embeddings.enabled():
        return
    from .tasks import gap_group

    transaction.on_commit(lambda: gap_group.delay(gap.pk))


def knowledge_gap_group(*, gap_id: int) -> KnowledgeGap | None:
    """Embed a new gap's question and, when an older open gap of the same widget key asks
    the same (cosine similarity at least KNOWLEDGE_GAP_SIMILARITY), make it a variant of
    that gap, whose count takes this one's. Returns the group it joined, or None.

    Runs in Celery (an embedding call). Only an older gap can take it in, so two gaps never
    join each other; the closest group among the open ones wins. Raises LLMError (the task
    retries)."""
    from . import embeddings

    gap = KnowledgeGap.objects.filter(pk=gap_id, grouped_into__isnull=True).first()
    if gap is None or not embeddings.enabled():
        return None
    model = settings.KNOWLEDGE_EMBEDDING_MODEL
    vector = embeddings.texts_embed([gap.question[: settings.KNOWLEDGE_MAX_QUERY_CHARS]])[0]
    groups = list(
        KnowledgeGap.objects.filter(
            pk__lt=gap.pk,
            status=KnowledgeGap.Status.OPEN,
            grouped_into__isnull=True,
            widget_key_id=gap.widget_key_id,
            embedding_model=model,
        )
        .order_by("-pk")
        .values_list("pk", "embedding")[: settings.KNOWLEDGE_GAP_GROUP_CANDIDATES]
    )
    best = embeddings.nearest_pair(vector, groups)
    with transaction.atomic():
        joined = None
        if best is not None and best[1] >= settings.KNOWLEDGE_GAP_SIMILARITY:
            joined = best[0]
            KnowledgeGap.objects.filter(pk=joined).update(
                count=F("count") + gap.count,
                reason=gap.reason,
                last_message_id=gap.last_message_id,
            )
        KnowledgeGap.objects.filter(pk=gap.pk).update(
            embedding=vector, embedding_model=model, grouped_into_id=joined
        )
    return KnowledgeGap.objects.get(pk=joined) if joined else None


# How far back a handoff looks for the question that led to it.
HANDOFF_GAP_LOOKBACK_MESSAGES = 5


def knowledge_gap_from_handoff_record(*, conversation_id) -> KnowledgeGap | None:
    """The question that led a customer to ask for a person, as a knowledge gap: their
    latest message that is not itself the request ("talk to a human"). Nothing when they
    asked before asking anything, or when there is no knowledge base to extend."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id).only("id", "widget_key_id").first()
    )
    if conversation is None or not knowledge_visible(widget_key_id=conversation.widget_key_id):
        return None  # no knowledge base this customer could be answered from
    recent = Message.objects.filter(
        conversation_id=conversation.pk, role=Message.Role.USER
    ).order_by("-created_at", "-id")[:HANDOFF_GAP_LOOKBACK_MESSAGES]
    for message in recent:
        if handoff_phrase_in(message.content):
            continue
        return knowledge_gap_record(
            question=message.content,
            reason=KnowledgeGap.Reason.HANDOFF,
            widget_key_id=conversation.widget_key_id,
            message=message,
        )
    return None


def knowledge_gap_draft(*, gap: KnowledgeGap, answer: str, drafted_by=None) -> Article:
    """An unpublished article drafted from the question and the agent's answer."""
    body = answer.strip() or settings.KNOWLEDGE_GAP_DRAFT_PLACEHOLDER
    with transaction.atomic():
        result = article_save(title=gap.question, body=body, published=False)
        gap.status = KnowledgeGap.Status.DRAFTED
        gap.drafted_article = result.article
        gap.drafted_by = drafted_by
        gap.save(update_fields=["status", "drafted_article", "drafted_by", "last_seen_at"])
    return result.article
