"""The second ranking stage on Postgres: BM25F over the chunks' own tsvectors.

Postgres's `ts_rank` counts how often the question's words occur, by field weight, but knows
nothing of how rare a word is: in a shop's FAQ "order" is in every article and "invoice" in
two, yet both count the same. Plain BM25 (term rarity, saturation, length normalisation)
beats it on FAQ sets; BM25F, which weighs each field before saturating, beats BM25 when the
title is the FAQ's question (docs/knowledge-base.md, "Evaluation").

So the database picks candidates (GIN match, cheap `ts_rank` order) and this module re-scores
them. Everything needed is in the candidates' tsvectors: each lexeme's positions carry the
field as a weight letter (A title, B headings and tags, C text: chatbot.knowledge.index), so
the candidate query returns, per chunk, the question's lexemes with their weight letters
(`unnest`) and each field's length (`ts_filter`): no whole vector leaves the database. Term rarity
(document frequency over all chunks) and the average field lengths come from aggregate
queries, cached in each process until the knowledge base changes (`corpus_stats`,
chatbot.knowledge.freshness). Pure functions below; only `corpus_stats` touches the database.
"""

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from django.db import connection

from . import freshness

# Field weights for A (title: the FAQ's question), B (headings, tags), C (text).
FIELD_WEIGHTS = {"A": 3.0, "B": 1.0, "C": 1.0}
# Length normalisation per field (BM25's b): titles and texts of very different lengths.
FIELD_B = {"A": 0.5, "B": 0.3, "C": 0.75}
K1 = 1.2
VECTORS = ("search_vector", "search_vector_zh")

_TSVECTOR_ENTRY = re.compile(r"'((?:[^']|'')*)'(?::([0-9A-D,]+))?")


def tsvector_fields(text: str | None) -> dict[str, Counter]:
    """Per field letter, the term frequencies of a tsvector's text form
    (`'word':1A,4C 'other':2`). A position without a letter is D."""
    fields: dict[str, Counter] = {}
    if not text:
        return fields
    for match in _TSVECTOR_ENTRY.finditer(text):
        lexeme = match.group(1).replace("''", "'")
        positions = match.group(2)
        if not positions:
            fields.setdefault("D", Counter())[lexeme] += 1
            continue
        for position in positions.split(","):
            letter = position[-1] if position[-1] in "ABCD" else "D"
            fields.setdefault(letter, Counter())[lexeme] += 1
    return fields


@dataclass
class VectorStats:
    documents: int = 0
    document_frequency: dict[str, int] = field(default_factory=dict)
    average_length: dict[str, float] = field(default_factory=dict)

    def idf(self, lexeme: str) -> float:
        # A word missing from the statistics (written since they were read) counts as rare.
        df = self.document_frequency.get(lexeme, 1)
        n = max(self.documents, df)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


def matched_fields(entries: list) -> dict[str, Counter]:
    """Field term frequencies from `unnest(tsvector)` rows `[lexeme, [weight letters]]`."""
    fields: dict[str, Counter] = {}
    for lexeme, weights in entries or ():
        for letter in weights or ("D",):
            fields.setdefault(letter, Counter())[lexeme] += 1
    return fields


def bm25f(
    query: list[str],
    fields: dict[str, Counter],
    stats: VectorStats,
    lengths: dict[str, float] | None = None,
) -> float:
    """BM25F of one chunk's vector for the query's lexemes (each counted once). `lengths`:
    the chunk's field lengths (default: what `fields` holds, when it is the whole vector)."""
    if not fields:
        return 0.0
    if lengths is None:
        lengths = {letter: sum(counts.values()) for letter, counts in fields.items()}
    score = 0.0
    for lexeme in dict.fromkeys(query):
        weighted_tf = 0.0
        for letter, counts in fields.items():
            tf = counts.get(lexeme)
            if not tf:
                continue
            b = FIELD_B.get(letter, 0.75)
            length = lengths.get(letter) or 1
            average = stats.average_length.get(letter) or length
            norm = 1 - b + b * length / average
            weighted_tf += FIELD_WEIGHTS.get(letter, 0.5) * tf / norm
        if weighted_tf:
            score += stats.idf(lexeme) * weighted_tf * (K1 + 1) / (K1 + weighted_tf)
    return score


# A field's length: its distinct lexemes (the positions' count is not one SQL call away).
FIELD_LENGTHS_SQL = ", ".join(
    f"{{aggregate}}(length(ts_filter({{vector}}, '{{{{{letter}}}}}')))" for letter in "abc"
)


def _read_stats(column: str) -> VectorStats:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count({column}) FROM knowledge_chunk")  # noqa: S608  # nosec B608 - constant column names
        documents = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT u.lexeme, count(*) FROM knowledge_chunk c, unnest(c.{column}) u"  # noqa: S608  # nosec B608 - constant column names
            " GROUP BY u.lexeme"
        )
        frequency = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT {FIELD_LENGTHS_SQL.format(vector=column, aggregate='avg')}"  # noqa: S608  # nosec B608 - constant column names
            f" FROM knowledge_chunk WHERE {column} IS NOT NULL"
        )
        averages = dict(zip("ABC", (float(v or 0) for v in cursor.fetchone()), strict=True))
    return VectorStats(documents, frequency, averages)


def corpus_stats() -> dict[str, VectorStats]:
    """Document frequencies and average field lengths of both search vectors (cached until
    the knowledge base changes)."""
    return freshness.cached(
        "corpus_stats", lambda: {column: _read_stats(column) for column in VECTORS}
    )
