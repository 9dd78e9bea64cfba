"""Trials of ranking ideas for the knowledge base, each measured against the shipped ranking.

    .venv/bin/python bench/kb_ranking_trials.py [--trials fields,prf,coverage,segmenters]

The figures of docs/knowledge-base.md ("Trials"). The pool and the questions are
bench/kb_retrieval.py's tune splits, so no choice is made on a test split (English:
deepset's 241 paraphrases, the English test split when these trials were first run, cut in
a fixed way: even positions (half A) to choose on, odd positions (half B) held out;
Chinese: the tune split). Each
variant is applied in process (a field weight changed, `ranking.bm25f` or `knowledge_search`
wrapped) over the real Postgres search; nothing here is used by the application.
Prints hit@1/hit@3/MRR per half, for all English questions and for Chinese.
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import kb_retrieval as bench  # noqa: E402

EN_SPLIT = "tune"  # --en-split: test-support tries HINT3's halves (A chosen on, B held out)


def load(segmenter: str):
    from django.conf import settings

    settings.KNOWLEDGE_EMBEDDING_MODEL = ""
    settings.KNOWLEDGE_CHINESE_SEGMENTER = segmenter
    split = {"en": EN_SPLIT, "zh": "tune"}
    records = {
        kind: {
            lang: [
                r
                for r in bench.read_jsonl(bench.BUILD / f"{lang}.{kind}.jsonl")
                if r["split"] == split[lang]
            ]
            for lang in bench.LANGUAGES
        }
        for kind in ("articles", "questions")
    }
    return records["questions"], bench.load_pool(records["articles"])


def report(name: str, questions, pk_to_id, parts=("en_A", "en_B", "en", "zh")) -> None:
    sets = {
        "en_A": questions["en"][0::2],
        "en_B": questions["en"][1::2],
        "en": questions["en"],
        "zh": questions["zh"],
    }
    cells = []
    for part in parts:
        score, _, _ = bench.run_search(sets[part], pk_to_id, 0)
        cells.append(f"{part} {score.row().replace('  ', ' ').strip()}")
    print(f"{name:<40} " + " | ".join(cells), flush=True)


def fields(questions, pk_to_id) -> None:
    from chatbot.knowledge import ranking

    for letter, values in (("A", (2.0, 5.0)), ("B", (0.0, 2.0)), ("C", (0.5, 2.0))):
        kept = ranking.FIELD_WEIGHTS[letter]
        for value in values:
            ranking.FIELD_WEIGHTS[letter] = value
            report(f"weight {letter} = {value}", questions, pk_to_id)
        ranking.FIELD_WEIGHTS[letter] = kept
    for value in (0.8, 2.0):
        kept, ranking.K1 = ranking.K1, value
        report(f"k1 = {value}", questions, pk_to_id)
        ranking.K1 = kept
    for letter, values in (("A", (0.2, 0.8)), ("C", (0.4, 0.9))):
        kept = ranking.FIELD_B[letter]
        for value in values:
            ranking.FIELD_B[letter] = value
            report(f"b {letter} = {value}", questions, pk_to_id)
        ranking.FIELD_B[letter] = kept


def _weighted_bm25f(weights: dict[str, float], fields, stats, lengths) -> float:
    from chatbot.knowledge import ranking

    score = 0.0
    for lexeme, weight in weights.items():
        weighted_tf = 0.0
        for letter, counts in fields.items():
            tf = counts.get(lexeme)
            if not tf:
                continue
            b = ranking.FIELD_B.get(letter, 0.75)
            length = lengths.get(letter) or 1
            average = stats.average_length.get(letter) or length
            weighted_tf += (
                ranking.FIELD_WEIGHTS.get(letter, 0.5) * tf / (1 - b + b * length / average)
            )
        if weighted_tf:
            score += (
                weight
                * stats.idf(lexeme)
                * weighted_tf
                * (ranking.K1 + 1)
                / (ranking.K1 + weighted_tf)
            )
    return score


def _ranked(weights_en, weights_zh, limit: int, stats):
    from django.db import connection

    from chatbot.knowledge import ranking, retrieval

    match = retrieval._discriminating(list(weights_en), stats["search_vector"])
    match_zh = retrieval._discriminating(list(weights_zh), stats["search_vector_zh"])
    if not match and not match_zh:
        return []
    sql, params = retrieval._postgres_sql(
        match, match_zh, list(weights_en), list(weights_zh), None, max(limit * 8, 40)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    scored = []
    for row in rows:
        score = _weighted_bm25f(
            weights_en,
            ranking.matched_fields(row[8]),
            stats["search_vector"],
            dict(zip("ABC", row[9:12], strict=True)),
        )
        if weights_zh and row[12]:
            score += _weighted_bm25f(
                weights_zh,
                ranking.matched_fields(row[12]),
                stats["search_vector_zh"],
                dict(zip("ABC", row[13:16], strict=True)),
            )
        scored.append((score, row))
    scored.sort(key=lambda pair: (-pair[0], pair[1][0]))
    return scored


def prf_search(docs: int, terms: int, alpha: float):
    """RM3-style pseudo-relevance feedback: the top `docs` chunks' lexemes, weighted by the
    chunk's share of the top scores, their frequency in it and their rarity; the best
    `terms` not in the question are added at up to `alpha` of a question word."""
    from django.db import connection

    from chatbot.knowledge import ranking, retrieval

    def search(*, query: str, widget_key_id, limit: int = 5):
        words = retrieval.query_terms(query)
        lexemes = retrieval._query_lexemes(words)
        stats = ranking.corpus_stats()
        weights = {
            "en": dict.fromkeys(lexemes["english"] + lexemes["simple"], 1.0),
            "zh": dict.fromkeys(words.chinese, 1.0),
        }
        first = _ranked(weights["en"], weights["zh"], limit, stats)[:docs]
        if first:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, search_vector::text, search_vector_zh::text"
                    " FROM knowledge_chunk WHERE id = ANY(%s)",
                    [[row[0] for _, row in first]],
                )
                vectors = {row[0]: row[1:] for row in cursor.fetchall()}
            total = sum(score for score, _ in first) or 1.0
            for column, (lang, vector) in enumerate(
                (("en", "search_vector"), ("zh", "search_vector_zh"))
            ):
                if not weights[lang]:
                    continue
                gathered = Counter()
                for score, row in first:
                    tf = Counter()
                    for counts in ranking.tsvector_fields(vectors[row[0]][column]).values():
                        tf.update(counts)
                    size = sum(tf.values()) or 1
                    for lexeme, count in tf.items():
                        gathered[lexeme] += score / total * count / size * stats[vector].idf(lexeme)
                best = [(w, x) for x, w in gathered.items() if x not in weights[lang]]
                best.sort(reverse=True)
                for weight, lexeme in best[:terms]:
                    weights[lang][lexeme] = alpha * weight / best[0][0]
        second = _ranked(weights["en"], weights["zh"], limit, stats)
        return [retrieval._hit(row, score) for score, row in second[:limit]]

    return search


def prf(questions, pk_to_id) -> None:
    from chatbot.knowledge import retrieval

    shipped = retrieval.knowledge_search
    for docs, terms, alpha in (
        (3, 10, 0.3),
        (3, 10, 0.5),
        (5, 20, 0.3),
        (2, 5, 0.3),
        (3, 10, 0.15),
    ):
        retrieval.knowledge_search = prf_search(docs, terms, alpha)
        report(f"PRF {docs} docs, {terms} terms, weight {alpha}", questions, pk_to_id)
    retrieval.knowledge_search = shipped


def coverage(questions, pk_to_id) -> None:
    from chatbot.knowledge import ranking

    shipped = ranking.bm25f
    for mode, gains in (("title", (0.5, 1.0, 2.0)), ("question", (0.5, 1.0))):
        for gain in gains:

            def patched(query, fields, stats, lengths=None, mode=mode, gain=gain):
                score = shipped(query, fields, stats, lengths)
                if not score:
                    return score
                asked = set(query)
                if mode == "title":
                    title = fields.get("A", {})
                    share = len(asked & set(title)) / ((lengths or {}).get("A") or len(title) or 1)
                else:
                    found = set().union(*(set(f) for f in fields.values())) & asked
                    share = sum(map(stats.idf, found)) / (sum(map(stats.idf, asked)) or 1)
                return score * (1 + gain * share)

            ranking.bm25f = patched
            report(f"{mode} coverage bonus, g = {gain}", questions, pk_to_id)
    ranking.bm25f = shipped


def segmenters() -> None:
    from django.conf import settings

    from chatbot.knowledge import retrieval, segment

    shipped = segment.segment

    def both(text, *, segmenter=None, stopwords=True):
        if (segmenter or settings.KNOWLEDGE_CHINESE_SEGMENTER) != "jieba+bigram":
            return shipped(text, segmenter=segmenter, stopwords=stopwords)
        words = shipped(text, segmenter="jieba", stopwords=stopwords)
        seen = set(words)
        return words + [
            w for w in shipped(text, segmenter="bigram", stopwords=stopwords) if w not in seen
        ]

    segment.segment = retrieval.segment = both
    for name in ("jieba", "bigram", "jieba+bigram"):
        questions, pk_to_id = load(name)
        report(f"Chinese segmented by {name}", questions, pk_to_id, parts=("zh",))
    segment.segment = retrieval.segment = shipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", default="fields,prf,coverage,segmenters")
    parser.add_argument(
        "--en-split", default="tune", choices=["tune", "test", "test-support"], help="English set"
    )
    args = parser.parse_args()
    bench.configure(bench.DB_URL)
    global EN_SPLIT
    EN_SPLIT = args.en_split
    trials = args.trials.split(",")
    questions, pk_to_id = load("bigram")
    report("as shipped", questions, pk_to_id)
    for name, trial in (("fields", fields), ("prf", prf), ("coverage", coverage)):
        if name in trials:
            trial(questions, pk_to_id)
    if "segmenters" in trials:
        segmenters()
    return 0


if __name__ == "__main__":
    sys.exit(main())
