"""The knowledge base's records.

An `Article` is what managers write or import; it is cut into `Chunk`s, the unit that is
searched, put in the model's context as a numbered source and cited. A `Source` records
where imported articles came from, so a re-import knows which ones vanished. A `Citation`
ties a bot reply to the chunks it cited. A `KnowledgeGap` is a question the knowledge base
could not answer, grouped by its normalised text.

The search columns (`search_vector`, `search_vector_zh`) are `tsvector`s on Postgres,
indexed with GIN; on SQLite (the demo) they stay empty and an FTS5 table mirrors the chunks
instead. Both are written by `chatbot.knowledge.index`, never by hand.
"""

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from .scope import HEADING_SEPARATOR


class Source(models.Model):
    """Where a set of articles came from: a file, a folder, an upload, the sample set."""

    class Kind(models.TextChoices):
        FILE = "file", "File"
        DIRECTORY = "directory", "Directory"
        UPLOAD = "upload", "Upload"
        SAMPLE = "sample", "Sample knowledge base"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FILE)
    # Identifies the source across imports (an absolute path, an upload's file name...).
    location = models.CharField(max_length=1000, unique=True)
    last_imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Article(models.Model):
    class SearchConfig(models.TextChoices):
        # Postgres text-search configurations: stemming for English; `simple` (lower-cased
        # words, no stemming) for everything else. Chinese also gets its own segmented vector.
        ENGLISH = "english", "English (stemmed)"
        SIMPLE = "simple", "Simple (no stemming)"

    source = models.ForeignKey(
        Source, null=True, blank=True, on_delete=models.SET_NULL, related_name="articles"
    )
    # The article's key inside its source (a file's relative path, "faq.csv#12"...).
    external_id = models.CharField(max_length=500, blank=True)
    title = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown: headings (#, ##) and paragraphs cut the chunks.")
    language = models.CharField(
        max_length=16, default="en", help_text="BCP 47 code, e.g. en, zh, zh-Hant."
    )
    search_config = models.CharField(
        max_length=16, choices=SearchConfig.choices, default=SearchConfig.ENGLISH
    )
    tags = models.JSONField(default=list, blank=True)
    published = models.BooleanField(default=True)
    # Empty: every widget key may retrieve the article. Otherwise only these.
    widget_keys = models.ManyToManyField(
        "accounts.WidgetKey",
        blank=True,
        related_name="knowledge_articles",
        help_text="Only these widget keys may retrieve the article. None selected: all of them.",
    )
    public_url = models.URLField(
        max_length=1000, blank=True, help_text="Shown to customers with a citation."
    )
    # SHA-256 of what the chunks are made of (title, body, language, tags): unchanged → skip.
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    retrieved_count = models.PositiveIntegerField(default=0, editable=False)
    cited_count = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~models.Q(external_id=""),
                name="knowledge_article_source_key",
            )
        ]

    def __str__(self) -> str:
        return self.title


class Chunk(models.Model):
    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="chunks")
    position = models.PositiveIntegerField()
    heading_path = models.JSONField(default=list, blank=True)  # ["Returns", "Refunds"]
    text = models.TextField()
    token_count = models.PositiveIntegerField()
    # Title (A), headings and tags (B), text (C), in the article's search configuration.
    search_vector = SearchVectorField(null=True, editable=False)
    # Chinese words segmented in the application (jieba or bigrams), `simple` configuration.
    search_vector_zh = SearchVectorField(null=True, editable=False)
    # Optional: the provider's embedding of the chunk (a list of floats), with its model.
    embedding = models.JSONField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)

    class Meta:
        ordering = ["article_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["article", "position"], name="knowledge_chunk_pos")
        ]
        indexes = [
            # The vector search reads the ids of a key's chunks embedded with the current
            # model on every question: an index-only scan instead of the whole table
            # (10,000 chunks: 27 MB of rows with their text and tsvectors).
            models.Index(
                fields=["embedding_model", "article", "id"], name="knowledge_chunk_embedded"
            )
        ]

    def __str__(self) -> str:
        return f"{self.article_id}#{self.position}"

    @property
    def heading(self) -> str:
        return HEADING_SEPARATOR.join(self.heading_path)


class Citation(models.Model):
    """A bot reply cited source [number], which was this chunk of this article."""

    reply = models.ForeignKey(
        "conversations.Message", on_delete=models.CASCADE, related_name="citations"
    )
    number = models.PositiveSmallIntegerField()
    # The chunk may be re-cut later; the article and its title as cited stay.
    chunk = models.ForeignKey(
        Chunk, null=True, blank=True, on_delete=models.SET_NULL, related_name="citations"
    )
    article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.SET_NULL, related_name="citations"
    )
    title = models.CharField(max_length=300)
    url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["reply_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["reply", "number"], name="knowledge_citation_number")
        ]

    def __str__(self) -> str:
        return f"[{self.number}] {self.title}"


class KnowledgeSettings(models.Model):
    """Per widget key: how the bot uses the knowledge base."""

    widget_key = models.OneToOneField(
        "accounts.WidgetKey", on_delete=models.CASCADE, related_name="knowledge_settings"
    )
    answer_only_from_kb = models.BooleanField(
        default=False,
        help_text="Answer only from the knowledge base: with no good source the bot says it "
        "does not know and offers a person; an answer citing no given source is unsupported.",
    )
    min_score = models.FloatField(
        default=0.0,
        help_text="Sources scoring at or below this are ignored (0: any match counts).",
    )
    replace_unsupported = models.BooleanField(
        default=True,
        help_text="In knowledge-only mode, replace an unsupported answer by the fallback text "
        "(otherwise it is shown and only flagged).",
    )
    fallback_text = models.TextField(
        blank=True,
        help_text="What the bot says when it cannot answer from the knowledge base. "
        "Empty: the default (KNOWLEDGE_FALLBACK_TEXT).",
    )

    class Meta:
        verbose_name_plural = "knowledge settings"

    def __str__(self) -> str:
        return f"Knowledge settings of {self.widget_key}"


class KnowledgeGap(models.Model):
    """Questions the knowledge base could not answer, grouped by normalised text and, with
    embeddings, by nearest neighbour."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DRAFTED = "drafted", "Article drafted"
        DISMISSED = "dismissed", "Dismissed"

    class Reason(models.TextChoices):
        NO_MATCH = "no_match", "Nothing retrieved"
        HANDOFF = "handoff", "Handed to a person"
        UNSUPPORTED = "unsupported", "Answer cited no source"

    normalized_text = models.CharField(max_length=500, unique=True)
    question = models.TextField(help_text="The latest wording of the question.")
    reason = models.CharField(max_length=20, choices=Reason.choices, default=Reason.NO_MATCH)
    count = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    widget_key = models.ForeignKey(
        "accounts.WidgetKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_message = models.ForeignKey(
        "conversations.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    drafted_article = models.ForeignKey(
        Article, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    drafted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    # Grouping by meaning, when embeddings are configured (services.knowledge_gap_group):
    # the question's vector, and the older gap found to ask the same, whose count includes
    # this one's. Groups are the gaps without one.
    embedding = models.JSONField(null=True, blank=True, editable=False)
    embedding_model = models.CharField(max_length=200, blank=True, editable=False)
    grouped_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="variants",
        editable=False,
    )

    class Meta:
        ordering = ["-count", "-last_seen_at"]
        indexes = [models.Index(fields=["status", "-count"], name="knowledge_gap_open")]

    def __str__(self) -> str:
        return self.question[:80]
