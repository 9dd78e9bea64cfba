"""The search structures Django's schema editor does not make: GIN indexes on the chunks'
tsvectors (Postgres) or the FTS5 table mirroring them (SQLite, the demo).

The FTS5 columns must match chatbot.knowledge.index.FTS_COLUMNS."""

from django.db import migrations


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX knowledge_chunk_fts_gin ON knowledge_chunk USING gin (search_vector)"
        )
        schema_editor.execute(
            "CREATE INDEX knowledge_chunk_fts_zh_gin ON knowledge_chunk "
            "USING gin (search_vector_zh)"
        )
    elif vendor == "sqlite":
        schema_editor.execute(
            "CREATE VIRTUAL TABLE knowledge_chunk_fts USING fts5("
            "title, extra, body, title_zh, body_zh, "
            "tokenize = 'porter unicode61 remove_diacritics 2')"
        )


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS knowledge_chunk_fts_gin")
        schema_editor.execute("DROP INDEX IF EXISTS knowledge_chunk_fts_zh_gin")
    elif vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS knowledge_chunk_fts")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
