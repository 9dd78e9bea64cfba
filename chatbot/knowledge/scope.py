"""What one search may read, and what it returns (shared by full text and embeddings)."""

import uuid
from dataclasses import dataclass

from django.db import connection

# Between the headings of a path as shown to people (a single right angle quotation mark).
HEADING_SEPARATOR = " \u203a "


@dataclass(frozen=True, slots=True)
class Hit:
    chunk_id: int
    article_id: int
    title: str
    url: str
    heading_path: list[str]
    text: str
    score: float

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)


def scope_sql(widget_key_id) -> tuple[str, list]:
    """Published, and unrestricted or allowed to this key: part of the WHERE clause."""
    unrestricted = (
        "NOT EXISTS (SELECT 1 FROM knowledge_article_widget_keys w WHERE w.article_id = a.id)"
    )
    if widget_key_id is None:
        return f"a.published AND {unrestricted}", []
    allowed = (
        "EXISTS (SELECT 1 FROM knowledge_article_widget_keys w"
        " WHERE w.article_id = a.id AND w.widgetkey_id = %s)"
    )
    key = uuid.UUID(str(widget_key_id))  # a bad id raises here, not as SQL
    if connection.vendor == "sqlite":
        key = key.hex  # how Django stores a UUID on SQLite
    return f"a.published AND ({unrestricted} OR {allowed})", [key]
