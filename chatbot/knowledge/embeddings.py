"""Optional embeddings: the provider's `/v1/embeddings`, stored per chunk, searched by cosine.

On when KNOWLEDGE_EMBEDDING_MODEL is set (and an endpoint: KNOWLEDGE_EMBEDDING_BASE_URL /
_API_KEY, else OPENAI_BASE_URL / OPENAI_API_KEY). Chunks are embedded by a Celery task after
import (`knowledge.embed_chunks`), never in a web request; a chunk without one is simply not
in the vector ranking. The question is embedded in the worker, during the turn.

Search is brute force in the application: the vectors of the widget key's chunks are kept
in process memory (a chunk's vector never changes: a re-cut article gets new chunk ids), as
one normalised numpy matrix, so the cosine ranking of a few thousand chunks is one
matrix-vector product. pgvector is not required; this is sized for knowledge bases of up to
some tens of thousands of chunks.
"""

import logging
import threading

from django.conf import settings
from django.db import connection

from chatbot.llm import LLMError, openai_provider

from .models import Chunk
from .scope import HEADING_SEPARATOR, Hit, scope_sql

logger = logging.getLogger(__name__)

_vectors: dict[int, object] = {}  # chunk id → normalised numpy vector (current model only)
_vectors_model = ""
_lock = threading.Lock()


def enabled() -> bool:
    return bool(settings.KNOWLEDGE_EMBEDDING_MODEL) and bool(
        settings.KNOWLEDGE_EMBEDDING_BASE_URL
        or settings.KNOWLEDGE_EMBEDDING_API_KEY
        or settings.OPENAI_BASE_URL
        or settings.OPENAI_API_KEY
    )


def texts_embed(texts: list[str]) -> list[list[float]]:
    """Vectors for `texts` from the configured endpoint. Raises LLMError."""
    return openai_provider.embed(
        texts,
        model=settings.KNOWLEDGE_EMBEDDING_MODEL,
        base_url=settings.KNOWLEDGE_EMBEDDING_BASE_URL or settings.OPENAI_BASE_URL or None,
        api_key=settings.KNOWLEDGE_EMBEDDING_API_KEY or settings.OPENAI_API_KEY,
        timeout=settings.KNOWLEDGE_EMBEDDING_TIMEOUT,
    )


def chunk_embedding_text(chunk: Chunk) -> str:
    return "\n".join(
        [chunk.article.title, HEADING_SEPARATOR.join(chunk.heading_path), chunk.text]
    ).strip()


def chunks_embed(*, chunk_ids: list[int]) -> int:
    """Embed these chunks (those still without a vector of the current model). Returns how
    many were embedded. Raises LLMError (the task retries)."""
    model = settings.KNOWLEDGE_EMBEDDING_MODEL
    pending = list(
        Chunk.objects.filter(pk__in=chunk_ids)
        .exclude(embedding_model=model)
        .select_related("article")
        .order_by("pk")
    )
    done = 0
    batch = settings.KNOWLEDGE_EMBEDDING_BATCH
    for start in range(0, len(pending), batch):
        chunks = pending[start : start + batch]
        vectors = texts_embed([chunk_embedding_text(c) for c in chunks])
        for chunk, vector in zip(chunks, vectors, strict=True):
            Chunk.objects.filter(pk=chunk.pk).update(embedding=vector, embedding_model=model)
        done += len(chunks)
    return done


def _normalised(vector):
    import numpy as np

    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else array


def _scoped_ids(widget_key_id) -> list[int]:
    scope, params = scope_sql(widget_key_id)
    sql = (
        "SELECT c.id FROM knowledge_chunk c JOIN knowledge_article a ON a.id = c.article_id"  # noqa: S608 - constant fragments
        f" WHERE c.embedding_model = %s AND {scope}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [settings.KNOWLEDGE_EMBEDDING_MODEL, *params])
        return [row[0] for row in cursor.fetchall()]


def _load(chunk_ids: list[int]) -> None:
    global _vectors_model
    model = settings.KNOWLEDGE_EMBEDDING_MODEL
    with _lock:
        if _vectors_model != model:
            _vectors.clear()
            _vectors_model = model
        missing = [i for i in chunk_ids if i not in _vectors]
    for start in range(0, len(missing), 500):
        rows = Chunk.objects.filter(pk__in=missing[start : start + 500]).values_list(
            "pk", "embedding"
        )
        loaded = {pk: _normalised(vector) for pk, vector in rows if vector}
        with _lock:
            _vectors.update(loaded)


def nearest_chunk_ids(*, query: str, widget_key_id, limit: int) -> list[int]:
    """The widget key's chunks nearest to `query` by cosine, best first; [] when the
    question cannot be embedded (full text then answers alone)."""
    import numpy as np

    ids = _scoped_ids(widget_key_id)
    if not ids:
        return []
    try:
        question = _normalised(texts_embed([query[: settings.KNOWLEDGE_MAX_QUERY_CHARS]])[0])
    except LLMError as error:
        logger.warning("knowledge search without embeddings: %s", error.code)
        return []
    _load(ids)
    ids = [i for i in ids if i in _vectors]
    if not ids:
        return []
    matrix = np.stack([_vectors[i] for i in ids])
    if matrix.shape[1] != question.shape[0]:
        logger.warning("embedding sizes differ (model changed?): vectors skipped")
        return []
    scores = matrix @ question
    best = np.argsort(-scores)[:limit]
    return [ids[i] for i in best]


def hits_for(*, chunk_ids: list[int]):
    """Hits for chunk ids found by the vector ranking (already scoped), score 0."""
    chunks = Chunk.objects.filter(pk__in=chunk_ids).select_related("article")
    return [
        Hit(
            chunk_id=c.pk,
            article_id=c.article_id,
            title=c.article.title,
            url=c.article.public_url,
            heading_path=c.heading_path,
            text=c.text,
            score=0.0,
        )
        for c in chunks
    ]
