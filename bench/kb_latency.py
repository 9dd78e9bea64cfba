"""Bench: how long does one knowledge-base search take at 10,000 chunks on Postgres?

    .venv/bin/python bench/data/kb/prepare.py     # once: the evaluation sets
    .venv/bin/python bench/kb_latency.py [--chunks 10000] [--queries 2000] [--limit 5]

The knowledge base (BENCH_DATABASE_URL with "_latency" appended, default
postgres://postgres@127.0.0.1:5432/chatdesk_kb_bench_latency; created and migrated) gets both
evaluation pools (bench/data/kb/build/: 298 English FAQ articles, 1,873 Chinese) through
`article_save`, then filler articles until it holds --chunks chunks: deterministic mixes of
the pools' own sentences, English and Chinese alike, so word frequencies stay those of real
FAQ text; each filler article is cut into several chunks by the real chunker. The data is
kept between runs (same --chunks: no re-import), and ANALYZEd as autovacuum would.

The questions are the evaluation questions of both languages, asked in turn through
`knowledge_search(limit=--limit)` after a warm-up. Side by side:
* `SELECT 1`: one round trip to the same database through the same connection, the floor;
* knowledge_search: p50, p90, p99 and max, per language and overall.
The load average is printed: on a shared machine, CPU contention inflates every figure.

`--vectors N` adds the embeddings' brute-force ranking (chatbot.knowledge.embeddings) at
that many dimensions: every chunk gets a deterministic random unit vector (their values do
not change the cost of a brute-force ranking; embedding 10,000 chunks with a real model
takes a long time on this CPU), written once and kept. Timed, per question:
* vector ranking, embedding excluded: `embeddings.nearest_chunk_ids(limit=4 x --limit)`
  (what knowledge_search asks for) with the question's vector computed beforehand;
* with `--embedding-server minilm|e5` (and --embedding-python, as bench/kb_retrieval.py),
  the same with the question embedded by bench/embedding_server.py over HTTP (embedding
  included), the embedding call alone, and the whole hybrid `knowledge_search`. The random
  chunk vectors are then stored under the server's model name.
Wall-clock times are printed, then the CPU time of the bench's own process for the same
calls (without Postgres's share), steadier when other work competes for the cores.
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import pct  # noqa: E402
from bench.kb_retrieval import BUILD, DB_URL, configure, read_jsonl  # noqa: E402

# Full-width Chinese sentence ends written as escapes (ruff RUF001).
SENTENCE = re.compile("[^.!?\u3002\uff01\uff1f\n]+[.!?\u3002\uff01\uff1f]?")


def fill(target_chunks: int) -> None:
    from django.db import connection, transaction

    from chatbot.knowledge.models import Article, Chunk, Source
    from chatbot.knowledge.services import article_save

    marker = f"bench:latency:{target_chunks}"
    if Source.objects.filter(location=marker).exists() and Chunk.objects.count() >= target_chunks:
        print(f"knowledge base kept from the last run ({Chunk.objects.count()} chunks)")
        return
    started = time.perf_counter()
    Article.objects.all().delete()
    Source.objects.all().delete()
    sentences: dict[str, list[str]] = {}
    titles: dict[str, list[str]] = {}
    for language in ("en", "zh"):
        source = Source.objects.create(name=f"bench {language}", location=f"bench:{language}")
        records = read_jsonl(BUILD / f"{language}.articles.jsonl")
        with transaction.atomic():
            for record in records:
                article_save(
                    title=record["title"],
                    body=record["body"],
                    language=language,
                    tags=record["tags"],
                    source=source,
                    external_id=record["id"],
                )
        titles[language] = [r["title"] for r in records]
        sentences[language] = [
            s.strip() for r in records for s in SENTENCE.findall(r["body"]) if s.strip()
        ]
    rng = random.Random(13)
    source = Source.objects.create(name="bench filler", location=marker)
    number = 0
    while Chunk.objects.count() < target_chunks:
        with transaction.atomic():
            for _ in range(50):
                number += 1
                language = "en" if number % 2 else "zh"
                # About 1,500 tokens: the chunker cuts it into several chunks of <= 300.
                parts = []
                for _paragraph in range(6):
                    parts.append(" ".join(rng.choices(sentences[language], k=8)))
                body = "\n\n".join(parts)
                article_save(
                    title=rng.choice(titles[language]),
                    body=body,
                    language=language,
                    tags=["filler"],
                    source=source,
                    external_id=str(number),
                )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_chunk")
        cursor.execute("ANALYZE knowledge_article")
    print(
        f"knowledge base built: {Chunk.objects.count()} chunks,"
        f" {Article.objects.count()} articles, in {time.perf_counter() - started:.0f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--vectors", type=int, default=0, metavar="DIMS")
    parser.add_argument("--embedding-server", default="", choices=["", "minilm", "e5"])
    parser.add_argument("--embedding-python", default=os.environ.get("EMBEDDING_PYTHON", ""))
    parser.add_argument("--embedding-port", type=int, default=18100)
    args = parser.parse_args()
    if args.embedding_server and not (args.vectors and args.embedding_python):
        parser.error("--embedding-server needs --vectors and --embedding-python")
    base, _, name = DB_URL.rpartition("/")
    configure(f"{base}/{name}_latency")  # kept between runs, apart from kb_retrieval's
    from django.conf import settings
    from django.db import connection

    from chatbot.knowledge.retrieval import knowledge_search

    settings.KNOWLEDGE_EMBEDDING_MODEL = ""  # full text: no embedding endpoint here
    fill(args.chunks)
    questions = {
        language: [q["question"] for q in read_jsonl(BUILD / f"{language}.questions.jsonl")]
        for language in ("en", "zh")
    }
    rng = random.Random(7)
    asked = [
        (language, question)
        for language in ("en", "zh")
        for question in rng.sample(
            questions[language], min(args.queries // 2, len(questions[language]))
        )
    ]
    rng.shuffle(asked)
    for _, question in asked[:50]:  # warm-up: caches, corpus statistics, jieba
        knowledge_search(query=question, widget_key_id=None, limit=args.limit)
    floor = []
    with connection.cursor() as cursor:
        for _ in range(500):
            started = time.perf_counter()
            cursor.execute("SELECT 1")
            cursor.fetchone()
            floor.append(time.perf_counter() - started)
    times: dict[str, list[float]] = {"en": [], "zh": []}
    for language, question in asked:
        started = time.perf_counter()
        knowledge_search(query=question, widget_key_id=None, limit=args.limit)
        times[language].append(time.perf_counter() - started)
    load = os.getloadavg()
    print(
        f"Postgres, {args.chunks} chunks, limit={args.limit}, {len(asked)} questions;"
        f" load average {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'':<26} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")

    def line(name: str, values: list[float]) -> None:
        ms = [v * 1000 for v in values]
        print(
            f"{name:<26} {len(ms):>5} {statistics.median(ms):8.2f} {pct(ms, 90):8.2f}"
            f" {pct(ms, 99):8.2f} {max(ms):8.2f}"
        )

    line("SELECT 1 (round trip)", floor)
    line("knowledge_search, en", times["en"])
    line("knowledge_search, zh", times["zh"])
    line("knowledge_search, all", times["en"] + times["zh"])
    overall = statistics.median(times["en"] + times["zh"]) / statistics.median(floor)
    print(f"median search / median round trip: {overall:.1f}x")
    if args.vectors:
        if args.embedding_server:
            from bench.embedding_server import running

            with running(
                python=args.embedding_python,
                backend=args.embedding_server,
                port=args.embedding_port,
            ) as (model, base_url):
                settings.KNOWLEDGE_EMBEDDING_BASE_URL = base_url
                settings.KNOWLEDGE_EMBEDDING_API_KEY = "local"
                vector_times(args, asked, model, line)
        else:
            vector_times(args, asked, f"bench-random-{args.vectors}", line)
    return 0


def random_vectors(model: str, dims: int) -> None:
    """A deterministic random unit vector per chunk, stored as the model's (kept)."""
    import numpy as np
    from django.db import connection, transaction

    from chatbot.knowledge.models import Chunk

    todo = list(Chunk.objects.exclude(embedding_model=model).values_list("pk", flat=True))
    if not todo:
        return
    started = time.perf_counter()
    rng = np.random.default_rng(13)
    with transaction.atomic(), connection.cursor() as cursor:
        for start in range(0, len(todo), 1000):
            ids = todo[start : start + 1000]
            vectors = rng.standard_normal((len(ids), dims), dtype=np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            cursor.executemany(
                "UPDATE knowledge_chunk SET embedding = %s::jsonb, embedding_model = %s"
                " WHERE id = %s",
                [
                    (json.dumps([round(float(x), 6) for x in vector]), model, pk)
                    for pk, vector in zip(ids, vectors, strict=True)
                ],
            )
    print(f"{len(todo)} chunk vectors written in {time.perf_counter() - started:.0f} s")


def vector_times(args, asked, model: str, line) -> None:
    import numpy as np
    from django.conf import settings
    from django.db import connection

    from chatbot.knowledge import embeddings
    from chatbot.knowledge.retrieval import FUSION_CANDIDATES, knowledge_search

    settings.KNOWLEDGE_EMBEDDING_MODEL = model
    random_vectors(model, args.vectors)
    with connection.cursor() as cursor:  # as autovacuum would (index-only scans need it)
        cursor.execute("VACUUM ANALYZE knowledge_chunk")
    depth = args.limit * FUSION_CANDIDATES
    rng = np.random.default_rng(7)
    ready = {q: rng.standard_normal(args.vectors).tolist() for _, q in asked}
    embed = embeddings.texts_embed

    def precomputed(texts):
        return [ready.get(t) or rng.standard_normal(args.vectors).tolist() for t in texts]

    timed: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}  # this process's CPU time: steadier on a shared machine

    def run(name, call, questions):
        for question in questions[:20]:  # warm-up: the first loads the matrix
            call(question)
        timed[name], cpu[name] = [], []
        for question in questions:
            started, started_cpu = time.perf_counter(), time.process_time()
            call(question)
            timed[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)

    questions = [q for _, q in asked]
    embeddings.texts_embed = precomputed
    try:
        run(
            "vectors, embed excluded",
            lambda q: embeddings.nearest_chunk_ids(query=q, widget_key_id=None, limit=depth),
            questions,
        )
    finally:
        embeddings.texts_embed = embed
    if args.embedding_server:
        run("embedding call alone", lambda q: embeddings.texts_embed([q]), questions)
        run(
            "vectors, embed included",
            lambda q: embeddings.nearest_chunk_ids(query=q, widget_key_id=None, limit=depth),
            questions,
        )
        run(
            "hybrid knowledge_search",
            lambda q: knowledge_search(query=q, widget_key_id=None, limit=args.limit),
            questions,
        )
    load = os.getloadavg()
    print(
        f"\nembeddings: {args.vectors} dims, model {model}, limit {depth};"
        f" load average {load[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"{'':<26} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, values in timed.items():
        line(name, values)
    for name, values in cpu.items():
        line(f"{name[:20]}, CPU", values)


if __name__ == "__main__":
    sys.exit(main())
