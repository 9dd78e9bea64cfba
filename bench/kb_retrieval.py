"""Bench: does the knowledge base find the right FAQ article? hit@1, hit@3, MRR per language.

    .venv/bin/python bench/data/kb/prepare.py          # once: builds bench/data/kb/build/
    .venv/bin/python bench/kb_retrieval.py [--split test|tune|all] [--show-misses 5]

The evaluation sets (bench/data/kb/README.md): English, COVID-Q for the test split (244
FAQ-page articles, 286 questions people asked on Quora and search engines) and deepset's
COVID-QA FAQ for the tune split (298 articles, 241 paraphrased questions); Chinese, the
Tianchi 2020 COVID patient-question set (1,873 FAQ questions; 793 test questions, 3,418 more
kept for tuning). After the test split, a second English test set in a pool of its own
(rows "en-s", `--split test-support` alone): HINT3, 1,010 messages customers typed into
three live support chatbots, against the bots' 106 FAQ entries: first as one pool, then
each bot as the business it is, with a widget key of its own that sees its articles only
(the application's scoping), next to BM25 over each bot's own articles.

Both pools go into one real knowledge base on Postgres (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/chatdesk_kb_bench; created and migrated; its knowledge
tables are emptied first) through `chatbot.knowledge.services.article_save`, the service the
import and the admin use: chunking, tsvectors and Chinese segments as in production. Each
question goes through `chatbot.knowledge.retrieval.knowledge_search` (widget key None: every
article is unrestricted), and the rank of the first chunk of the right article is scored.

Rows, per language:
* BM25 (rank_bm25's BM25Okapi over title + body; English: lower-cased words, Chinese: jieba
  or character bigrams): the plain baseline, computed in memory on the same pool;
* full text alone: Postgres, Chinese not segmented (KNOWLEDGE_CHINESE_SEGMENTER=none);
* full text + jieba, full text + bigram: the same with the Chinese segmented;
* embeddings alone and hybrid (full text fused with embeddings by
  `retrieval.knowledge_search`), per embedding model: either a running endpoint
  (KNOWLEDGE_EMBEDDING_MODEL and KNOWLEDGE_EMBEDDING_BASE_URL / _API_KEY in the environment,
  as the application reads them), or `--embedding-server minilm,e5`, which starts
  bench/embedding_server.py (an offline OpenAI-compatible /v1/embeddings) with the
  interpreter of its own venv (`--embedding-python`, or EMBEDDING_PYTHON) on
  `--embedding-port` for each model in turn. The chunks are embedded through the
  application's own path (`embeddings.chunks_embed`, what the Celery task runs); the
  Chinese vector is built with the application's default segmenter for these rows.
  `--rrf-k 60,5` and `--embedding-weights 1,3` add a hybrid row per combination (the
  fusion's k and KNOWLEDGE_EMBEDDING_WEIGHT), the question vectors then come from the
  server's cache if it has one (`embedding_server.py --cache N`).
  Without either, the line says it was not measured.
The last column is the median time of one knowledge_search call (the database round trip
included), next to BM25's in-memory scoring of the same question.
"""

import argparse
import contextlib
import json
import logging
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUILD = ROOT / "bench" / "data" / "kb" / "build"
DB_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk_kb_bench"
)
LANGUAGES = ("en", "zh")
# A row's first column: the language, or for the second English test set "en-s" (HINT3).
TAGS = {"en": "en", "zh": "zh"}
SUPPORT = "test-support"  # HINT3: customers' messages to support chatbots (its own pool)
DEPTH = 10  # chunks asked for; MRR counts the right article within them


@dataclass
class Score:
    hits1: int = 0
    hits3: int = 0
    reciprocal: float = 0.0
    count: int = 0

    def add(self, rank: int | None) -> None:
        self.count += 1
        if rank is not None:
            self.hits1 += rank == 1
            self.hits3 += rank <= 3
            self.reciprocal += 1 / rank

    def merge(self, other: "Score") -> None:
        self.hits1 += other.hits1
        self.hits3 += other.hits3
        self.reciprocal += other.reciprocal
        self.count += other.count

    def row(self) -> str:
        n = max(self.count, 1)
        return f"{self.hits1 / n:6.3f} {self.hits3 / n:6.3f} {self.reciprocal / n:6.3f}"


def row(lang: str, label: str, score: Score, ms: float) -> str:
    return f"{TAGS[lang]:<4} {label:<52} {score.row()} {ms:10.2f}"


def configure(database_url: str) -> None:
    from bench.common import django_in_process

    django_in_process(database_url)


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        raise SystemExit(f"{path} is missing: run bench/data/kb/prepare.py first")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def load_pool(articles: dict[str, list[dict]]) -> dict[int, str]:
    """Empty the knowledge base and import both pools; returns article pk → dataset id."""
    from django.db import transaction

    from chatbot.knowledge.models import Article, Source
    from chatbot.knowledge.services import article_save

    Article.objects.all().delete()
    Source.objects.all().delete()
    pk_to_id = {}
    for language, records in articles.items():
        source = Source.objects.create(name=f"bench {language}", location=f"bench:{language}")
        with transaction.atomic():
            for record in records:
                result = article_save(
                    title=record["title"],
                    body=record["body"],
                    language=language,
                    tags=record["tags"],
                    public_url=record["url"],
                    source=source,
                    external_id=record["id"],
                )
                pk_to_id[result.article.pk] = record["id"]
    return pk_to_id


def reindex_all() -> None:
    from django.db import transaction

    from chatbot.knowledge.models import Article
    from chatbot.knowledge.services import article_reindex

    with transaction.atomic():
        for article in Article.objects.all():
            article_reindex(article=article)


def first_rank(ranked_ids: list[str], answers: list[str]) -> int | None:
    seen: list[str] = []
    for article_id in ranked_ids:
        if article_id not in seen:
            seen.append(article_id)
        if article_id in answers:
            return len(seen)
    return None


def run_search(questions, pk_to_id, misses: int, key_of: dict[str, object] | None = None):
    """`key_of`: each question asked with its business's widget key (by `business_of`)."""
    from chatbot.knowledge.retrieval import knowledge_search

    score, times, missed = Score(), [], []
    for question in questions:
        key = key_of[business_of(question["answers"][0])] if key_of else None
        started = time.perf_counter()
        hits = knowledge_search(query=question["question"], widget_key_id=key, limit=DEPTH)
        times.append(time.perf_counter() - started)
        ranked = [pk_to_id.get(h.article_id, "?") for h in hits]
        rank = first_rank(ranked, question["answers"])
        score.add(rank)
        if (rank is None or rank > 3) and len(missed) < misses:
            missed.append((question["question"], question["answers"], [h.title for h in hits[:3]]))
    return score, statistics.median(times) * 1000, missed


_WORD = re.compile(r"[^\W_]+")


def bm25_tokens(segmenter: str):
    from chatbot.knowledge.segment import segment

    def english(text: str) -> list[str]:
        return [w.lower() for w in _WORD.findall(text)]

    def chinese(text: str) -> list[str]:
        return segment(text, segmenter=segmenter, stopwords=False)

    return english if segmenter == "en" else chinese


def business_of(record_id: str) -> str:
    """HINT3's bot ("en-s-<bot>-<intent>"): three businesses, each with its own FAQ."""
    return record_id.split("-")[2]


@contextlib.contextmanager
def scoped_to_businesses(pk_to_id: dict[int, str]):
    """Each HINT3 bot as a business of its own: a widget key per bot, its articles visible
    to that key alone (what a shop's knowledge base is in production). Yields bot → key
    id, then lifts the restriction (through the m2m, so the knowledge base's cached
    visibility is told, as the admin's edits tell it)."""
    from accounts.models import WidgetKey
    from chatbot.knowledge.models import Article

    articles = Article.objects.in_bulk(list(pk_to_id))
    keys = {}
    for pk, record_id in pk_to_id.items():
        business = business_of(record_id)
        if business not in keys:
            keys[business] = WidgetKey.objects.create(name=f"bench {business}")
        articles[pk].widget_keys.set([keys[business]])
    try:
        yield {business: key.pk for business, key in keys.items()}
    finally:
        for article in articles.values():
            article.widget_keys.clear()
        WidgetKey.objects.filter(pk__in=[key.pk for key in keys.values()]).delete()


def run_bm25_per_business(records, questions, tokens):
    """BM25 over each business's own articles, each question against its business's."""
    total, times = Score(), []
    for business in sorted({business_of(r["id"]) for r in records}):
        mine = [r for r in records if business_of(r["id"]) == business]
        asked = [q for q in questions if business_of(q["answers"][0]) == business]
        score, ms = run_bm25(mine, asked, tokens)
        total.merge(score)
        times.append(ms)
    return total, statistics.median(times)


def run_bm25(records, questions, tokens):
    from rank_bm25 import BM25Okapi

    index = BM25Okapi([tokens(f"{r['title']} {r['body']}") for r in records])
    ids = [r["id"] for r in records]
    score, times = Score(), []
    for question in questions:
        started = time.perf_counter()
        scores = index.get_scores(tokens(question["question"]))
        best = sorted(range(len(ids)), key=lambda i: -scores[i])[:DEPTH]
        times.append(time.perf_counter() - started)
        score.add(first_rank([ids[i] for i in best], question["answers"]))
    return score, statistics.median(times) * 1000


def run_vectors(questions, pk_to_id):
    """Embeddings alone: the cosine ranking `knowledge_search` fuses, scored by article."""
    from chatbot.knowledge import embeddings
    from chatbot.knowledge.models import Chunk

    article_of = dict(Chunk.objects.values_list("pk", "article_id"))
    score, times = Score(), []
    for question in questions:
        started = time.perf_counter()
        ids = embeddings.nearest_chunk_ids(
            query=question["question"], widget_key_id=None, limit=DEPTH
        )
        times.append(time.perf_counter() - started)
        ranked = [pk_to_id.get(article_of.get(i), "?") for i in ids]
        score.add(first_rank(ranked, question["answers"]))
    return score, statistics.median(times) * 1000


def measure_hybrid(questions, pk_to_id, rows, weights: list[float], ks: list[int]) -> None:
    """Embed every chunk through the application's path, then the two rows per language."""
    from django.conf import settings

    from chatbot.knowledge import embeddings, retrieval
    from chatbot.knowledge.models import Chunk

    model = settings.KNOWLEDGE_EMBEDDING_MODEL
    default_k = retrieval.RRF_K
    started = time.perf_counter()
    done = embeddings.chunks_embed(chunk_ids=list(Chunk.objects.values_list("pk", flat=True)))
    print(f"{model}: {done} chunks embedded in {time.perf_counter() - started:.1f} s")
    for lang in (lang for lang in LANGUAGES if questions[lang]):
        score, ms = run_vectors(questions[lang], pk_to_id)
        rows[lang].append(row(lang, "embeddings alone, " + model, score, ms))
        print(rows[lang][-1], flush=True)  # as they come: a model's rows take minutes
        for k in ks or [retrieval.RRF_K]:
            for weight in weights:
                retrieval.RRF_K, settings.KNOWLEDGE_EMBEDDING_WEIGHT = k, weight
                score, ms, _ = run_search(questions[lang], pk_to_id, 0)
                label = f"hybrid, {model}, RRF k={k} w={weight:g}"
                rows[lang].append(row(lang, label, score, ms))
                print(rows[lang][-1], flush=True)
        retrieval.RRF_K = default_k
        if TAGS[lang] == "en-s":  # HINT3: and each bot with a knowledge base of its own
            with scoped_to_businesses(pk_to_id) as key_of:
                score, ms, _ = run_search(questions[lang], pk_to_id, 0, key_of)
            rows[lang].append(row(lang, f"hybrid, {model}, each bot's own", score, ms))
            print(rows[lang][-1], flush=True)


def run_hybrid(args, questions, pk_to_id, rows) -> None:
    from django.conf import settings

    from bench.embedding_server import running
    from chatbot.settings import base  # the configured values, before the bench's overrides

    weights = (
        [float(w) for w in args.embedding_weights.split(",")]
        if args.embedding_weights
        else [base.KNOWLEDGE_EMBEDDING_WEIGHT]
    )
    ks = [int(k) for k in args.rrf_k.split(",")] if args.rrf_k else []
    if settings.KNOWLEDGE_CHINESE_SEGMENTER != base.KNOWLEDGE_CHINESE_SEGMENTER:
        settings.KNOWLEDGE_CHINESE_SEGMENTER = base.KNOWLEDGE_CHINESE_SEGMENTER
        reindex_all()
    if not args.embedding_server:
        settings.KNOWLEDGE_EMBEDDING_MODEL = os.environ["KNOWLEDGE_EMBEDDING_MODEL"]
        measure_hybrid(questions, pk_to_id, rows, weights, ks)
        return
    for backend in args.embedding_server.split(","):
        with running(python=args.embedding_python, backend=backend, port=args.embedding_port) as (
            model,
            base_url,
        ):
            settings.KNOWLEDGE_EMBEDDING_MODEL = model
            settings.KNOWLEDGE_EMBEDDING_BASE_URL = base_url
            settings.KNOWLEDGE_EMBEDDING_API_KEY = "local"
            settings.KNOWLEDGE_EMBEDDING_TIMEOUT = 600.0  # a shared CPU
            measure_hybrid(questions, pk_to_id, rows, weights, ks)
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""


def evaluate(args, split: str, hybrid_on: bool):
    """Import the split's pools, then every row for its questions."""
    from django.conf import settings

    articles = {
        lang: [
            a
            for a in read_jsonl(BUILD / f"{lang}.articles.jsonl")
            if split == "all" or a["split"] == split
        ]
        for lang in LANGUAGES
    }
    questions = {
        lang: [
            q
            for q in read_jsonl(BUILD / f"{lang}.questions.jsonl")
            if split == "all" or q["split"] == split
        ]
        for lang in LANGUAGES
    }
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""  # full text first; hybrid measured last
    started = time.perf_counter()
    settings.KNOWLEDGE_CHINESE_SEGMENTER = "jieba"
    pk_to_id = load_pool(articles)
    chunks = __import__("chatbot.knowledge.models", fromlist=["Chunk"]).Chunk.objects.count()
    print(
        f"pool: {', '.join(f'{lang} {len(a)} articles' for lang, a in articles.items())};"
        f" {chunks} chunks; imported in {time.perf_counter() - started:.1f} s"
    )
    print("questions: " + ", ".join(f"{lang} {len(q)} ({split})" for lang, q in questions.items()))
    rows: dict[str, list[str]] = {lang: [] for lang in LANGUAGES}
    for lang in LANGUAGES:
        if not questions[lang]:
            continue
        tokenizers = ["en"] if lang == "en" else ["jieba", "bigram"]
        for tokenizer in tokenizers:
            score, ms = run_bm25(articles[lang], questions[lang], bm25_tokens(tokenizer))
            label = "BM25 title+body (rank_bm25)" + ("" if lang == "en" else f", {tokenizer}")
            rows[lang].append(row(lang, label, score, ms))
    misses_by_variant = {}
    for segmenter in args.segmenters.split(","):
        settings.KNOWLEDGE_CHINESE_SEGMENTER = segmenter
        reindex_all()
        label = "full text alone" if segmenter == "none" else f"full text + {segmenter}"
        for lang in LANGUAGES:
            if not questions[lang] or (lang == "en" and segmenter != "none"):
                continue  # English queries never touch the Chinese vector
            score, ms, missed = run_search(questions[lang], pk_to_id, args.show_misses)
            rows[lang].append(row(lang, label, score, ms))
            misses_by_variant[(lang, label)] = missed
    if split == SUPPORT:  # and each bot as the business it is, with a knowledge base of its own
        score, ms = run_bm25_per_business(articles["en"], questions["en"], bm25_tokens("en"))
        rows["en"].append(row("en", "BM25, each bot's own articles", score, ms))
        with scoped_to_businesses(pk_to_id) as key_of:
            label = "full text, each bot's own (widget key)"
            score, ms, missed = run_search(questions["en"], pk_to_id, args.show_misses, key_of)
        rows["en"].append(row("en", label, score, ms))
        misses_by_variant[("en", label)] = missed
    if hybrid_on or args.embedding_server:
        run_hybrid(args, questions, pk_to_id, rows)
    return rows, misses_by_variant


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--split",
        default="test",
        choices=["test", SUPPORT, "tune", "all"],
        help=f"test: COVID-Q and Tianchi, then {SUPPORT} (HINT3) in a pool of its own",
    )
    parser.add_argument("--show-misses", type=int, default=0, metavar="N")
    parser.add_argument(
        "--segmenters", default="none,bigram,jieba", help="full-text variants, in order"
    )
    parser.add_argument(
        "--embedding-server",
        default="",
        metavar="MODELS",
        help="start bench/embedding_server.py for these backends (minilm,e5) in turn",
    )
    parser.add_argument(
        "--embedding-python",
        default=os.environ.get("EMBEDDING_PYTHON", ""),
        help="the embedding venv's python (default: $EMBEDDING_PYTHON)",
    )
    parser.add_argument("--embedding-port", type=int, default=18100)
    parser.add_argument(
        "--embedding-weights",
        default="",
        metavar="W,W",
        help="hybrid rows for these KNOWLEDGE_EMBEDDING_WEIGHT values (default: the setting)",
    )
    parser.add_argument(
        "--rrf-k", default="", metavar="K,K", help="hybrid rows for these RRF k (default: ours)"
    )
    args = parser.parse_args()
    if args.embedding_server and not args.embedding_python:
        parser.error("--embedding-server needs --embedding-python (or EMBEDDING_PYTHON)")
    configure(DB_URL)
    logging.getLogger("jieba").setLevel(logging.WARNING)

    from chatbot.knowledge import embeddings

    # Each split is searched in its own pool (the Chinese splits are two FAQs of their own;
    # HINT3 is measured after the test split, in its own pool, so COVID-Q's rows stay as
    # they were).
    rounds = [args.split, SUPPORT] if args.split == "test" else [args.split]
    hybrid_on = embeddings.enabled()
    header = f"{'lang':<4} {'method':<52} {'hit@1':>6} {'hit@3':>6} {'MRR':>6} {'median ms':>10}"
    rows: dict[str, list[str]] = {}
    misses_by_variant = {}
    for split in rounds:
        TAGS["en"] = "en-s" if split == SUPPORT else "en"
        round_rows, round_misses = evaluate(args, split, hybrid_on)
        for lang, lines in round_rows.items():
            rows.setdefault(TAGS[lang], []).extend(lines)
        misses_by_variant.update(
            {(TAGS[lang], label): m for (lang, label), m in round_misses.items()}
        )
    print()
    print(header)
    for lines in rows.values():
        print("\n".join(lines))
    if not hybrid_on and not args.embedding_server:
        print(
            "hybrid: not measured - no embedding endpoint configured"
            " (--embedding-server minilm,e5, or KNOWLEDGE_EMBEDDING_MODEL and an endpoint)"
        )
    if args.show_misses:
        for (lang, label), missed in misses_by_variant.items():
            print(f"\nmisses (right article not in the top 3), {lang}, {label}:")
            for question, answers, titles in missed:
                print(f"  {question!r} -> want {answers}, got {titles}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
