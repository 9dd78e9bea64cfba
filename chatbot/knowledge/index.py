"""Writing the search index for chunks: Postgres tsvectors, or SQLite's FTS5 table.

Postgres: `Chunk.search_vector` = title (weight A), headings and tags (B), text (C), in the
article's configuration (`english` stems, `simple` does not); `Chunk.search_vector_zh` = the
same fields segmented into Chinese words (chatbot.knowledge.segment), `simple`
configuration, or NULL when the article has no Chinese. Both have GIN indexes.

SQLite (the demo): the FTS5 table `knowledge_chunk_fts` (rowid = chunk id) holds the same
fields as columns, tokenised by `porter unicode61`; the segmented Chinese in columns of its own.
"""

from django.db import connection

from . import freshness
from .models import Article, Chunk
from .segment import segmented

FTS_TABLE = "knowledge_chunk_fts"
# Columns of the FTS5 table (made by migration 0002), in order; bm25 weights in retrieval.py.
FTS_COLUMNS = ("title", "extra", "body", "title_zh", "body_zh")


def _extra(chunk: Chunk, article: Article) -> str:
    return " ".join([*chunk.heading_path, *(str(t) for t in article.tags)])


def chunks_index(*, article: Article, chunks: list[Chunk]) -> None:
    """Write the search fields of `chunks` (all of `article`, just saved)."""
    if not chunks:
        return
    freshness.changed()
    title_zh = segmented(article.title)
    rows = []
    for chunk in chunks:
        extra = _extra(chunk, article)
        zh_text = segmented(f"{extra} {chunk.text}")
        rows.append((chunk.id, extra, zh_text))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.executemany(
                "UPDATE knowledge_chunk SET search_vector ="
                " setweight(to_tsvector(%s::regconfig, %s), 'A')"
                " || setweight(to_tsvector(%s::regconfig, %s), 'B')"
                " || setweight(to_tsvector(%s::regconfig, text), 'C'),"
                " search_vector_zh = CASE WHEN %s = '' AND %s = '' THEN NULL ELSE"
                " setweight(to_tsvector('simple', %s), 'A')"
                " || setweight(to_tsvector('simple', %s), 'C') END"
                " WHERE id = %s",
                [
                    (
                        article.search_config,
                        article.title,
                        article.search_config,
                        extra,
                        article.search_config,
                        title_zh,
                        zh_text,
                        title_zh,
                        zh_text,
                        chunk_id,
                    )
                    for chunk_id, extra, zh_text in rows
                ],
            )
        elif connection.vendor == "sqlite":
            text_by_id = {chunk.id: chunk.text for chunk in chunks}
            cursor.executemany(
                f"INSERT OR REPLACE INTO {FTS_TABLE} (rowid, {', '.join(FTS_COLUMNS)})"  # noqa: S608 - constants
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (chunk_id, article.title, extra, text_by_id[chunk_id], title_zh, zh_text)
                    for chunk_id, extra, zh_text in rows
                ],
            )


def chunks_unindex(*, chunk_ids: list[int]) -> None:
    """Before chunks are deleted: SQLite's FTS5 table is not tied to them by a foreign key."""
    freshness.changed()
    if connection.vendor != "sqlite" or not chunk_ids:
        return
    with connection.cursor() as cursor:
        placeholders = ", ".join(["%s"] * len(chunk_ids))
        cursor.execute(
            f"DELETE FROM {FTS_TABLE} WHERE rowid IN ({placeholders})",  # noqa: S608  # nosec B608
            chunk_ids,
        )
