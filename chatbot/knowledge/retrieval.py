"""Retrieval: the chunks that best answer a question, for one widget key.

    knowledge_search(query=..., widget_key_id=..., limit=5) -> list[Hit]

Full text first, in the database: Postgres `websearch_to_tsquery` over the weighted
`search_vector` (title above headings and tags above text), in each article's own
configuration, plus the Chinese-segmented `search_vector_zh`; SQLite (the demo) FTS5 with
bm25 column weights. Question words are OR-ed (a customer's question rarely shares every
word with the answer); the ranking rewards chunks that match more of them, and rarer ones.

When embeddings are configured (KNOWLEDGE_EMBEDDING_MODEL) and chunks have them, the
question is embedded too and a cosine ranking over the widget key's chunks is fused with the
full-text one by weighted reciprocal-rank fusion (chatbot.knowledge.embeddings; the
weight KNOWLEDGE_EMBEDDING_WEIGHT).

Scoping happens in the query: only published articles that are unrestricted or allowed to
this widget key are ever read, so no filter after the fact can forget one.
"""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from . import embeddings, ranking, spelling
from .index import FTS_TABLE
from .scope import Hit, scope_sql
from .segment import has_chinese, segment
from .selectors import knowledge_visible

# ts_rank weights for D, C, B, A: text (C) counts 0.2, headings and tags (B) 0.4, title (A) 1.
RANK_WEIGHTS = "{0.05, 0.2, 0.4, 1.0}"
# ts_rank normalization 1: divide by 1 + log(length), so long chunks do not win by size.
RANK_NORMALIZATION = 1
# FTS5 bm25 weights for (title, extra, body, title_zh, body_zh).
BM25_WEIGHTS = (10.0, 4.0, 1.0, 10.0, 1.0)
# Reciprocal-rank fusion constant: 5, not the usual 60. On the Chinese tune split (3,418
# questions) k = 5 beat 60 with both embedding models tried, hit@3 0.926 → 0.935 with
# multilingual-e5-small and 0.709 → 0.829 with all-MiniLM-L6-v2: a small k lets a ranking's
# first places count, where FAQ answers are (docs/knowledge-base.md, "Hybrid").
RRF_K = 5
# Postgres: candidates re-scored by BM25F (chatbot.knowledge.ranking), per requested hit.
RERANK_FACTOR = 8
RERANK_MIN = 40
# Chunks the matched lexemes may reach together (their document frequencies added up): the
# candidates' cost is bounded whatever the size of the knowledge base.
MATCH_BUDGET = 400
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


def _tsquery(lexemes: list[str]) -> str:
    """An OR tsquery of lexemes as they are stored (quoted: no parsing, no stemming again)."""
    quoted = ("'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'" for lexeme in lexemes)
    return " | ".join(quoted)


def _terms_sql(vector: str) -> str:
    """The query's lexemes in `vector` with their weight letters, and its field lengths."""
    entries = (
        "(SELECT json_agg(json_build_array(u.lexeme, u.weights))"  # noqa: S608  # nosec B608 - constant vector names
        f" FROM unnest(top.{vector}) u WHERE u.lexeme = ANY(%s::text[]))"
    )
    lengths = ranking.FIELD_LENGTHS_SQL.format(vector=f"top.{vector}", aggregate="")
    return f"{entries}, {lengths}"


def _postgres_sql(
    match: list[str],
    match_zh: list[str],
    query: list[str],
    query_zh: list[str],
    widget_key_id,
    limit: int,
) -> tuple[str, list]:
    """Candidates: chunks holding any of the question's discriminating lexemes (one GIN probe
    per vector), the best `limit` by the cheap weighted `ts_rank`; for those only, the
    question's lexemes with their fields and the field lengths, for BM25F."""
    conditions, ranks, params_match, params_rank = [], [], [], []
    if match:
        conditions.append("c.search_vector @@ %s::tsquery")
        params_match.append(_tsquery(match))
        ranks.append(
            f"ts_rank('{RANK_WEIGHTS}', c.search_vector, %s::tsquery, {RANK_NORMALIZATION})"
        )
        params_rank.append(_tsquery(match))
    if match_zh:
        conditions.append("c.search_vector_zh @@ %s::tsquery")
        params_match.append(_tsquery(match_zh))
        ranks.append(
            f"coalesce(ts_rank('{RANK_WEIGHTS}', c.search_vector_zh, %s::tsquery,"
            f" {RANK_NORMALIZATION}), 0)"
        )
        params_rank.append(_tsquery(match_zh))
    scope, params_scope = scope_sql(widget_key_id)
    # The scope is a semi-join probed per matching chunk (the article's primary key); the
    # article's own columns are read for the best `limit` only.
    candidates = (
        "SELECT c.id, c.article_id, c.heading_path, c.text,"  # noqa: S608  # nosec B608 - constant fragments
        f" {' + '.join(ranks)} AS score, c.search_vector, c.search_vector_zh"
        f" FROM knowledge_chunk c WHERE ({' OR '.join(conditions)})"
        f" AND EXISTS (SELECT 1 FROM knowledge_article a WHERE a.id = c.article_id AND {scope})"
        " ORDER BY score DESC, c.id LIMIT %s"
    )
    sql = (
        "SELECT top.id, top.article_id, a.title, a.public_url, top.heading_path, top.text,"  # noqa: S608  # nosec B608 - constant fragments
        " top.score, a.search_config,"
        f" {_terms_sql('search_vector')}, {_terms_sql('search_vector_zh')}"
        f" FROM ({candidates}) top JOIN knowledge_article a ON a.id = top.article_id"
        " ORDER BY top.score DESC, top.id"
    )
    return sql, [query, query_zh, *params_rank, *params_match, *params_scope, limit]


# Question words already turned into lexemes, per process (a pure function of the word):
# a turn whose words were all seen before sends no statement for them.
_LEXEMES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
LEXEME_MEMO_SIZE = 50_000


def _query_lexemes(terms: _Terms) -> dict[str, list[str]]:
    """The question's lexemes as each configuration stores them (stemmed, stop words out).
    Words not seen before by this process are stemmed by Postgres, all in one statement."""
    unseen = [word for word in terms.words if word not in _LEXEMES]
    if unseen:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w, array(SELECT lexeme FROM unnest(to_tsvector('english', w))),"
                " array(SELECT lexeme FROM unnest(to_tsvector('simple', w)))"
                " FROM unnest(%s::text[]) w",
                [unseen],
            )
            rows = cursor.fetchall()
        if len(_LEXEMES) + len(rows) > LEXEME_MEMO_SIZE:
            _LEXEMES.clear()
        for word, english, simple in rows:
            _LEXEMES[word] = (tuple(english), tuple(simple))
    english, simple = [], []
    for word in terms.words:
        stored = _LEXEMES.get(word, ((), ()))
        english += stored[0]
        simple += stored[1]
    return {"english": list(dict.fromkeys(english)), "simple": list(dict.fromkeys(simple))}


def _discriminating(lexemes: list[str], stats: ranking.VectorStats) -> list[str]:
    """The lexemes worth matching on: the rarest first, while the chunks they can match
    (their document frequencies, added up) stay within MATCH_BUDGET; always the rarest one.
    A common word ("order" in a shop's FAQ) would make thousands of chunks candidates and
    adds little to the score: it is scored on the candidates, not matched on. Words no chunk
    has are dropped."""
    lexemes = list(dict.fromkeys(lexemes))
    if not stats.documents:
        return lexemes  # statistics not read yet (an empty knowledge base, or just written)
    frequency = stats.document_frequency
    known = sorted((x for x in lexemes if frequency.get(x, 0)), key=frequency.__getitem__)
    chosen, budget = [], 0
    for lexeme in known:
        if chosen and budget + frequency[lexeme] > MATCH_BUDGET:
            break
        chosen.append(lexeme)
        budget += frequency[lexeme]
    return chosen


def _postgres_search(terms: _Terms, widget_key_id, limit: int) -> list[Hit]:
    lexemes = _query_lexemes(terms)
    stats = ranking.corpus_stats()
    # Stop words ("from", "will": no English lexeme) are never typos of a stored word.
    stored = {word: _LEXEMES.get(word, ((), ())) for word in terms.words}
    corrected = spelling.corrections(
        {word: english + simple for word, (english, simple) in stored.items() if english},
        stats["search_vector"],
    )
    if corrected:  # scored as the question's own words, in either configuration
        lexemes = {name: list(dict.fromkeys(found + corrected)) for name, found in lexemes.items()}
    match = _discriminating(lexemes["english"] + lexemes["simple"], stats["search_vector"])
    match_zh = _discriminating(terms.chinese, stats["search_vector_zh"])
    if not match and not match_zh:
        return []
    sql, params = _postgres_sql(
        match,
        match_zh,
        list(dict.fromkeys(lexemes["english"] + lexemes["simple"])),
        terms.chinese,
        widget_key_id,
        max(limit * RERANK_FACTOR, RERANK_MIN),
    )
    # One statement, no transaction of its own: with the GIN indexes free of a pending list
    # (migration 0004) the planner probes them rather than scanning every chunk.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    scored = []
    for row in rows:
        config = row[7]
        score = ranking.bm25f(
            lexemes.get(config, lexemes["simple"]),
            ranking.matched_fields(row[8]),
            stats["search_vector"],
            dict(zip("ABC", row[9:12], strict=True)),
        )
        if terms.chinese and row[12]:
            score += ranking.bm25f(
                terms.chinese,
                ranking.matched_fields(row[12]),
                stats["search_vector_zh"],
                dict(zip("ABC", row[13:16], strict=True)),
            )
        scored.append((score, row))
    scored.sort(key=lambda pair: (-pair[0], pair[1][0]))
    return [_hit(row, score) for score, row in scored[:limit]]


def _hit(row, score: float) -> Hit:
    return Hit(
        chunk_id=row[0],
        article_id=row[1],
        title=row[2],
        url=row[3],
        heading_path=row[4] if isinstance(row[4], list) else json.loads(row[4] or "[]"),
        text=row[5],
        score=float(score),
    )


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
        "SELECT c.id, c.article_id, a.title, a.public_url, c.heading_path, c.text,"  # noqa: S608  # nosec B608 - constant fragments
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
        return _postgres_search(terms, widget_key_id, limit)
    built = _sqlite_sql(terms, widget_key_id, limit)
    if built is None:
        return []
    sql, params = built
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_hit(row, row[6]) for row in rows]


def reciprocal_rank_fusion(
    rankings: list[list[int]], *, k: int = RRF_K, weights: list[float] | None = None
) -> dict[int, float]:
    """Chunk id → fused score: the sum over rankings of weight / (k + rank) (weights 1 by
    default: plain RRF)."""
    fused: dict[int, float] = {}
    for ordered, weight in zip(rankings, weights or [1.0] * len(rankings), strict=True):
        for rank, chunk_id in enumerate(ordered, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


def knowledge_search(*, query: str, widget_key_id, limit: int = 5) -> list[Hit]:
    """The best chunks for `query` among the articles `widget_key_id` may see, best first.

    `widget_key_id` None: only articles restricted to no key. No statement at all when the
    key sees no published article (cached: selectors.knowledge_visible)."""
    if not query.strip() or not knowledge_visible(widget_key_id=widget_key_id):
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
    fused = reciprocal_rank_fusion(
        [[h.chunk_id for h in text_hits], vector_ids],
        k=RRF_K,
        weights=[1.0, settings.KNOWLEDGE_EMBEDDING_WEIGHT],
    )
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
