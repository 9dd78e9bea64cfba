"""Retrieval: the chunks that best answer a question, for one widget key.

    knowledge_search(query=..., widget_key_id=..., limit=5) -> list[Hit]

Full text first, in the database: Postgres `websearch_to_tsquery` over the weighted
`search_vector` (title above headings and tags above text), in each article's own
configuration, plus the Chinese-segmented `search_vector_zh`; SQLite (the demo) FTS5 with
bm25 column weights. Question words are OR-ed (a customer's question rarely shares every
word with the answer); the ranking rewards chunks that match more of them, and rarer ones.

When embeddings are configured (KNOWLEDGE_EMBEDDING_MODEL) and chunks have them, the
question is embedded too and a cosine ranking over the widget key's chunks is fused with the
full-text one by reciprocal-rank fusion (chatbot.knowledge.embeddings).

Scoping happens in the query: only published articles that are unrestricted or allowed to
this widget key are ever read, so no filter after the fact can forget one.
"""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from . import embeddings
from .index import FTS_TABLE
from .scope import Hit, scope_sql
from .segment import has_chinese, segment

# ts_rank weights for D, C, B, A: text (C) counts 0.2, headings and tags (B) 0.4, title (A) 1.
RANK_WEIGHTS = "{0.05, 0.2, 0.4, 1.0}"
# ts_rank normalization 1: divide by 1 + log(length), so long chunks do not win by size.
RANK_NORMALIZATION = 1
# FTS5 bm25 weights for (title, extra, body, title_zh, body_zh).
BM25_WEIGHTS = (10.0, 4.0, 1.0, 10.0, 1.0)
# Reciprocal-rank fusion constant (the usual 60).
RRF_K = 60
# Full-text candidates considered for fusion, per requested hit.
FUSION_CANDIDATES = 4

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# SQLite's FTS5 has no stop-word list: words that match nearly every English chunk.
STOPWORDS_EN = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


@dataclass(frozen=True, slots=True)
class _Terms:
    words: list[str]  # Latin-script (and other non-Han) words, lower-cased
    chinese: list[str]  # segmented Chinese words

    def __bool__(self) -> bool:
        return bool(self.words or self.chinese)


def query_terms(query: str) -> _Terms:
    query = query[: settings.KNOWLEDGE_MAX_QUERY_CHARS]
    words = [w.lower() for w in _WORD.findall(query) if not has_chinese(w)]
    chinese = segment(query) if has_chinese(query) else []
    # Order kept, repeats dropped: the tsquery and MATCH stay short.
    return _Terms(list(dict.fromkeys(words)), list(dict.fromkeys(chinese)))


def _postgres_sql(terms: _Terms, widget_key_id, limit: int) -> tuple[str, list]:
    matches, ranks, params_match, params_rank = [], [], [], []
    if terms.words:
        words = " or ".join(terms.words)
        for config in ("english", "simple"):
            tsquery = f"websearch_to_tsquery('{config}', %s)"
            matches.append(f"(a.search_config = '{config}' AND c.search_vector @@ {tsquery})")
            params_match.append(words)
        ranks.append(
            f"ts_rank('{RANK_WEIGHTS}', c.search_vector, websearch_to_tsquery("
            f"a.search_config::regconfig, %s), {RANK_NORMALIZATION})"
        )
        params_rank.append(words)
    if terms.chinese:
        tsquery = "websearch_to_tsquery('simple', %s)"
        matches.append(f"c.search_vector_zh @@ {tsquery}")
        params_match.append(" or ".join(terms.chinese))
        ranks.append(
            f"coalesce(ts_rank('{RANK_WEIGHTS}', c.search_vector_zh, {tsquery},"
            f" {RANK_NORMALIZATION}), 0)"
        )
        params_rank.append(" or ".join(terms.chinese))
    scope, params_scope = scope_sql(widget_key_id)
    sql = (
        "SELECT c.id, c.article_id, a.title, a.public_url, c.heading_path, c.text,"  # noqa: S608 - fragments are constants
        f" {' + '.join(ranks)} AS score"
        " FROM knowledge_chunk c JOIN knowledge_article a ON a.id = c.article_id"
        f" WHERE ({' OR '.join(matches)}) AND {scope}"
        " ORDER BY score DESC, c.id LIMIT %s"
    )
    return sql, [*params_rank, *params_match, *params_scope, limit]


def _fts5_phrase(word: str) -> str:
    return '"' + word.replace('"', '""') + '"'


def _sqlite_sql(terms: _Terms, widget_key_id, limit: int) -> tuple[str, list] | None:
    groups = []
    words = [w for w in terms.words if w not in STOPWORDS_EN]
    if words:
        groups.append("{title extra body} : (" + " OR ".join(map(_fts5_phrase, words)) + ")")
    if terms.chinese:
        groups.append(
            "{title_zh body_zh} : (" + " OR ".join(map(_fts5_phrase, terms.chinese)) + ")"
        )
    if not groups:
        return None
    scope, params_scope = scope_sql(widget_key_id)
    weights = ", ".join(str(w) for w in BM25_WEIGHTS)
    sql = (
        "SELECT c.id, c.article_id, a.title, a.public_url, c.heading_path, c.text,"  # noqa: S608 - fragments are constants
        f" -bm25({FTS_TABLE}, {weights}) AS score"
        f" FROM {FTS_TABLE} f JOIN knowledge_chunk c ON c.id = f.rowid"
        " JOIN knowledge_article a ON a.id = c.article_id"
        f" WHERE {FTS_TABLE} MATCH %s AND {scope}"
        " ORDER BY score DESC, c.id LIMIT %s"
    )
    return sql, [" OR ".join(groups), *params_scope, limit]


def full_text_search(*, query: str, widget_key_id, limit: int) -> list[Hit]:
    terms = query_terms(query)
    if not terms or limit <= 0:
        return []
    if connection.vendor == "postgresql":
        sql, params = _postgres_sql(terms, widget_key_id, limit)
    else:
        built = _sqlite_sql(terms, widget_key_id, limit)
        if built is None:
            return []
        sql, params = built
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [
        Hit(
            chunk_id=row[0],
            article_id=row[1],
            title=row[2],
            url=row[3],
            heading_path=row[4] if isinstance(row[4], list) else json.loads(row[4] or "[]"),
            text=row[5],
            score=float(row[6]),
        )
        for row in rows
    ]


def reciprocal_rank_fusion(rankings: list[list[int]], *, k: int = RRF_K) -> dict[int, float]:
    """Chunk id → fused score: the sum over rankings of 1 / (k + rank)."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return fused


def knowledge_search(*, query: str, widget_key_id, limit: int = 5) -> list[Hit]:
    """The best chunks for `query` among the articles `widget_key_id` may see, best first.

    `widget_key_id` None: only articles restricted to no key."""
    if not query.strip():
        return []
    if not embeddings.enabled():
        return full_text_search(query=query, widget_key_id=widget_key_id, limit=limit)
    text_hits = full_text_search(
        query=query, widget_key_id=widget_key_id, limit=limit * FUSION_CANDIDATES
    )
    vector_ids = embeddings.nearest_chunk_ids(
        query=query, widget_key_id=widget_key_id, limit=limit * FUSION_CANDIDATES
    )
    if not vector_ids:
        return text_hits[:limit]
    fused = reciprocal_rank_fusion([[h.chunk_id for h in text_hits], vector_ids])
    best = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:limit]
    known = {h.chunk_id: h for h in text_hits}
    missing = [chunk_id for chunk_id in best if chunk_id not in known]
    known.update({h.chunk_id: h for h in embeddings.hits_for(chunk_ids=missing)})
    return [
        Hit(**{**_as_dict(known[chunk_id]), "score": fused[chunk_id]})
        for chunk_id in best
        if chunk_id in known
    ]


def _as_dict(hit: Hit) -> dict:
    return {name: getattr(hit, name) for name in Hit.__slots__}
