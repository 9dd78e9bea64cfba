"""What a search reuses from one turn to the next, and when it must read again.

Each process keeps, per knowledge-base *generation* (chatbot.platform.generations): whether
any published article is visible to a widget key (none: the search is skipped, no statement
at all, so a shop without a knowledge base pays nothing), each key's knowledge settings, and
the corpus statistics BM25F needs (chatbot.knowledge.ranking.corpus_stats). The generation
is a token in the shared cache (Redis), replaced after every commit that changes what a
search may find: an article saved, deleted, (un)published or restricted to other widget
keys, chunks re-indexed, a key's settings saved or deleted (the signals in
`connect_signals`, and `changed()` from the services' bulk updates). One cache read per
use; the process that wrote forgets at once, the others at their next read after the commit.

Without a shared cache (the demo's local memory, or Redis down) the token is the process's
own, and values are re-read after REFRESH_SECONDS at the latest.
"""

from chatbot.platform.generations import Generation

GENERATION_KEY = "knowledge:generation"
# An upper bound on how long a value is reused when no shared cache tells of changes.
REFRESH_SECONDS = 600.0

_generation = Generation(GENERATION_KEY, refresh_seconds=REFRESH_SECONDS)

cached = _generation.cached
forget_local = _generation.forget_local
generation_replace = _generation.replace
changed = _generation.changed
_shared_generation = _generation.shared


def _on_article_change(sender, **kwargs) -> None:
    changed()


def _on_restriction_change(sender, action: str, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        changed()


def connect_signals() -> None:
    """Called from the app's ready(): saves and deletes of articles, and their widget keys."""
    from django.db.models.signals import m2m_changed, post_delete, post_save

    from .models import Article, KnowledgeSettings

    post_save.connect(_on_article_change, sender=Article, dispatch_uid="knowledge-fresh-save")
    for signal, uid in ((post_save, "save"), (post_delete, "del")):
        signal.connect(
            _on_article_change, sender=KnowledgeSettings, dispatch_uid=f"knowledge-settings-{uid}"
        )
    post_delete.connect(_on_article_change, sender=Article, dispatch_uid="knowledge-fresh-del")
    m2m_changed.connect(
        _on_restriction_change,
        sender=Article.widget_keys.through,
        dispatch_uid="knowledge-fresh-keys",
    )
