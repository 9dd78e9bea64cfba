"""Optional embeddings: the provider's `/v1/embeddings`, stored per chunk, searched by cosine.

On when KNOWLEDGE_EMBEDDING_MODEL is set (and an endpoint: KNOWLEDGE_EMBEDDING_BASE_URL /
_API_KEY, else OPENAI_BASE_URL / OPENAI_API_KEY). Chunks are embedded by a Celery task after
import (`knowledge.embed_chunks`), never in a web request; a chunk without one is simply not
in the vector ranking. The question is embedded in the worker, during the turn.

Search is brute force in the application: the vectors are kept in process memory (a
chunk's vector never changes: a re-cut article gets new chunk ids) as one normalised numpy
matrix, loaded once; a search reads the ids of the widget key's embedded chunks (one SQL
array), finds their rows by a sorted-id lookup, and ranks them with one matrix-vector
product and a partial sort (10,000 chunks x 384 dims: bench/kb_latency.py --vectors).
pgvector is not required; this is sized for knowledge bases of up to some tens of thousands
of chunks.
"""

import logging
import threading

from django.conf import settings
from django.db import connection

from chatbot.llm import LLMError, openai_provider

from .models import Chunk
from .scope import HEADING_SEPARATOR, Hit, scope_sql

logger = logging.getLogger(__name__)

_lock = threading.Lock()  # replacing the store of loaded vectors (_Store)


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


class _Store:
    """The loaded vectors of one model: one normalised float32 matrix, a row per chunk, and
    the chunk ids sorted for a vectorised id → row lookup. Replaced whole on every load (new
    chunks are rare), so a search reads a consistent snapshot without a lock."""

    def __init__(self, model: str, ids=None, matrix=None, unusable=None):
        import numpy as np

        self.model = model
        self.ids = np.zeros(0, dtype=np.int64) if ids is None else ids  # row order
        self.matrix = np.zeros((0, 0), dtype=np.float32) if matrix is None else matrix
        self.order = np.argsort(self.ids, kind="stable")
        self.sorted_ids = self.ids[self.order]
        # Chunk ids read once without a usable vector (another size): not read again.
        self.unusable = np.zeros(0, dtype=np.int64) if unusable is None else unusable

    def rows(self, chunk_ids):
        """(rows of the chunks held, the chunk ids neither held nor known unusable)."""
        import numpy as np

        if self.sorted_ids.size:
            at = np.minimum(np.searchsorted(self.sorted_ids, chunk_ids), self.sorted_ids.size - 1)
            held = self.sorted_ids[at] == chunk_ids
            rows, missing = self.order[at[held]], chunk_ids[~held]
        else:
            rows, missing = np.zeros(0, dtype=np.int64), chunk_ids
        if self.unusable.size and missing.size:
            missing = missing[~np.isin(missing, self.unusable)]
        return rows, missing

    def with_vectors(self, pairs: list[tuple[int, list[float]]], asked) -> "_Store":
        """A store with these (chunk id, vector) pairs added; the `asked` ids that got no
        usable vector are remembered as unusable."""
        import numpy as np

        dimension = self.matrix.shape[1] if self.ids.size else None
        if dimension is None and pairs:
            dimension = len(pairs[0][1])
        kept = [(pk, vector) for pk, vector in pairs if len(vector) == dimension]
        if len(kept) < len(pairs):
            logger.warning(
                "embedding sizes differ (model changed?): %d vectors skipped",
                len(pairs) - len(kept),
            )
        ids = np.asarray([pk for pk, _ in kept], dtype=np.int64)
        unusable = np.union1d(self.unusable, np.setdiff1d(asked, ids))
        if not kept:
            return _Store(self.model, self.ids, self.matrix, unusable)
        added = np.asarray([vector for _, vector in kept], dtype=np.float32)
        norms = np.linalg.norm(added, axis=1, keepdims=True)
        added /= np.where(norms > 0, norms, 1.0)
        if self.ids.size:
            ids = np.concatenate([self.ids, ids])
            added = np.concatenate([self.matrix, added])
        return _Store(self.model, ids, added, unusable)


_store: _Store | None = None


def cache_clear() -> None:
    global _store
    with _lock:
        _store = None


def _loaded(chunk_ids) -> tuple[_Store, object]:
    """The store holding every vector of `chunk_ids` that exists, and their rows in it."""
    global _store
    model = settings.KNOWLEDGE_EMBEDDING_MODEL
    store = _store
    if store is None or store.model != model:
        store = _Store(model)
    rows, missing = store.rows(chunk_ids)
    if not missing.size:
        return store, rows
    pairs = []
    for start in range(0, missing.size, 500):
        pairs += [
            (pk, vector)
            for pk, vector in Chunk.objects.filter(
                pk__in=missing[start : start + 500].tolist()
            ).values_list("pk", "embedding")
            if vector
        ]
    with _lock:
        if _store is not None and _store.model == model:
            store = _store  # another thread may have loaded some meanwhile
        held = set(store.ids[store.rows(missing)[0]].tolist())
        store = store.with_vectors([(pk, v) for pk, v in pairs if pk not in held], missing)
        _store = store
    return store, store.rows(chunk_ids)[0]


def _scoped_ids(widget_key_id):
    import numpy as np

    scope, params = scope_sql(widget_key_id)
    # Constant SQL fragments; every value is a bound parameter (docs/security.md). One row,
    # one array: 10,000 ids cost a fraction of 10,000 rows.
    sql = (
        "SELECT array_agg(c.id) FROM knowledge_chunk c"  # noqa: S608  # nosec B608
        " JOIN knowledge_article a ON a.id = c.article_id"
        f" WHERE c.embedding_model = %s AND {scope}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [settings.KNOWLEDGE_EMBEDDING_MODEL, *params])
        ids = cursor.fetchone()[0] or []
    return np.asarray(ids, dtype=np.int64)


def query_embed(query: str):
    """The question's vector, or None when it cannot be embedded (logged)."""
    try:
        return texts_embed([query[: settings.KNOWLEDGE_MAX_QUERY_CHARS]])[0]
    except LLMError as error:
        logger.warning("knowledge search without embeddings: %s", error.code)
        return None


def nearest_to_vector(*, vector, widget_key_id, limit: int) -> list[int]:
    """The widget key's chunks nearest to `vector` by cosine, best first (ties: lower id).

    Brute force over the key's chunks: one matrix-vector product over the rows in scope,
    then a partial sort for the best `limit`."""
    return _ranked(_scoped_ids(widget_key_id), vector, limit)


def _ranked(ids, vector, limit: int) -> list[int]:
    import numpy as np

    if not ids.size or limit <= 0:
        return []
    store, rows = _loaded(ids)
    if not rows.size:
        return []
    question = np.asarray(vector, dtype=np.float32)
    if store.matrix.shape[1] != question.shape[0]:
        logger.warning("embedding sizes differ (model changed?): vectors skipped")
        return []
    # The whole matrix when the key sees most of it (no copy), else the key's rows only.
    # einsum, not `@`: the BLAS matrix-vector product spreads 10,000 x 384 over OpenBLAS's
    # threads, which on a busy machine wait for cores (12 ms median, 98 ms p99 on the shared
    # 2-core machine) where einsum's single-threaded loop takes 0.6 ms.
    matrix = store.matrix if rows.size * 2 >= store.ids.size else store.matrix[rows]
    scores = np.einsum("ij,j->i", matrix, question)
    if matrix is store.matrix:
        scores = scores[rows]
    chunk_ids = store.ids[rows]
    if limit < scores.size:
        # The best `limit` (and every tie with the last of them), then sorted exactly.
        cut = np.partition(scores, scores.size - limit)[scores.size - limit]
        keep = np.flatnonzero(scores >= cut)
        scores, chunk_ids = scores[keep], chunk_ids[keep]
    best = np.lexsort((chunk_ids, -scores))[:limit]
    return chunk_ids[best].tolist()


def nearest_chunk_ids(*, query: str, widget_key_id, limit: int) -> list[int]:
    """The widget key's chunks nearest to `query` by cosine, best first; [] when the
    question cannot be embedded (full text then answers alone)."""
    ids = _scoped_ids(widget_key_id)
    if not ids.size:
        return []  # nothing embedded in scope: no call to the endpoint
    vector = query_embed(query)
    if vector is None:
        return []
    return _ranked(ids, vector, limit)


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


def nearest_pair(vector, candidates: list[tuple[int, list[float]]]) -> tuple[int, float] | None:
    """The (id, cosine similarity) of the candidate closest to `vector`, among those of its
    size; None when there is none (knowledge gaps' grouping: a few thousand at most)."""
    import numpy as np

    kept = [(pk, v) for pk, v in candidates if v is not None and len(v) == len(vector)]
    if not kept:
        return None
    matrix = np.asarray([v for _, v in kept], dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(vector) or 1.0)
    scores = matrix @ np.asarray(vector, dtype=np.float32) / np.where(norms > 0, norms, 1.0)
    best = int(np.argmax(scores))
    return kept[best][0], float(scores[best])
