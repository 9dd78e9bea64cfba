"""The knowledge base in the Django admin: articles (list, edit, upload), a search tester,
per-article usage, knowledge gaps (one click drafts an article), per-key settings.

Thin: every write goes through chatbot.knowledge.services / importing."""

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from accounts.models import WidgetKey

from .importing import ImportFile, knowledge_import, source_get_or_create
from .models import Article, Chunk, Citation, KnowledgeGap, KnowledgeSettings, Source
from .retrieval import knowledge_search
from .selectors import gap_agent_answer
from .services import article_reindex, knowledge_gap_draft

_CONTENT_FIELDS = {"title", "body", "language", "tags", "public_url"}


class ChunkInline(admin.TabularInline):
    model = Chunk
    fields = ("position", "heading", "token_count", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False  # chunks are cut from the body, never edited


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data]
        return [super(MultipleFileField, self).clean(f, initial) for f in files if f]


class UploadForm(forms.Form):
    files = MultipleFileField(
        help_text="Markdown, HTML, plain text, CSV or JSON FAQ pairs, PDF. "
        "Uploading a file again updates its articles."
    )
    widget_keys = forms.ModelMultipleChoiceField(
        queryset=WidgetKey.objects.order_by("name"),
        required=False,
        help_text="Restrict the imported articles to these widget keys (none: all keys).",
    )

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise forms.ValidationError("Choose at least one file.")
        for upload in files:
            if upload.size > settings.KNOWLEDGE_UPLOAD_MAX_BYTES:
                raise forms.ValidationError(
                    f"{upload.name} is larger than {settings.KNOWLEDGE_UPLOAD_MAX_BYTES} bytes."
                )
        return files


class SearchTesterForm(forms.Form):
    query = forms.CharField(max_length=500, label="Question")
    widget_key = forms.ModelChoiceField(
        queryset=WidgetKey.objects.order_by("name"),
        required=False,
        empty_label="(no key: unrestricted articles only)",
    )
    limit = forms.IntegerField(min_value=1, max_value=50, initial=10)


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = (
        "title",
        "language",
        "published",
        "restricted",
        "chunk_count",
        "retrieved_count",
        "cited_count",
        "updated_at",
    )
    list_filter = ("published", "language", "source")
    search_fields = ("title", "body")
    filter_horizontal = ("widget_keys",)
    readonly_fields = (
        "source",
        "external_id",
        "search_config",
        "retrieved_count",
        "cited_count",
        "created_at",
        "updated_at",
    )
    fields = (
        "title",
        "body",
        "language",
        "tags",
        "public_url",
        "published",
        "widget_keys",
        *readonly_fields,
    )
    inlines = [ChunkInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    change_list_template = "admin/knowledge/article/change_list.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(chunk_total=Count("chunks", distinct=True))

    @admin.display(description="chunks", ordering="chunk_total")
    def chunk_count(self, obj):
        return obj.chunk_total

    @admin.display(description="restricted", boolean=True)
    def restricted(self, obj):
        return obj.widget_keys.exists()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # The chunks and their search fields follow the body: re-cut when content changed.
        if not change or _CONTENT_FIELDS & set(form.changed_data):
            article_reindex(article=form.instance)

    def get_urls(self):
        own = [
            path("upload/", self.admin_site.admin_view(self.upload_view), name="knowledge_upload"),
            path("search/", self.admin_site.admin_view(self.search_view), name="knowledge_search"),
        ]
        return own + super().get_urls()

    def upload_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        report = None
        if request.method == "POST" and form.is_valid():
            key_ids = [k.id for k in form.cleaned_data["widget_keys"]] or None
            report = {"added": 0, "updated": 0, "unchanged": 0, "failed": []}
            for upload in form.cleaned_data["files"]:
                # Each uploaded file is a source of its own: uploading it again updates it.
                source = source_get_or_create(
                    location=f"upload:{upload.name}", name=upload.name, kind=Source.Kind.UPLOAD
                )
                result = knowledge_import(
                    files=[ImportFile(name=upload.name, data=upload.read())],
                    source=source,
                    widget_key_ids=key_ids,
                )
                for outcome in ("added", "updated", "unchanged"):
                    report[outcome] += len(getattr(result, outcome))
                report["failed"] += [reason for _, reason in result.failed]
            level = messages.WARNING if report["failed"] else messages.SUCCESS
            self.message_user(
                request,
                f"Imported: {report['added']} added, {report['updated']} updated, "
                f"{report['unchanged']} unchanged, {len(report['failed'])} failed.",
                level,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload articles",
            "opts": self.model._meta,
            "form": form,
            "report": report,
        }
        return TemplateResponse(request, "admin/knowledge/article/upload.html", context)

    def search_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = SearchTesterForm(request.GET or None)
        hits = None
        if form.is_valid():
            key = form.cleaned_data["widget_key"]
            hits = knowledge_search(
                query=form.cleaned_data["query"],
                widget_key_id=key.id if key else None,
                limit=form.cleaned_data["limit"] or 10,
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Search tester",
            "opts": self.model._meta,
            "form": form,
            "hits": hits,
        }
        return TemplateResponse(request, "admin/knowledge/article/search.html", context)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "location", "article_total", "last_imported_at")
    readonly_fields = ("kind", "location", "last_imported_at", "created_at")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(articles_n=Count("articles"))

    @admin.display(description="articles", ordering="articles_n")
    def article_total(self, obj):
        return obj.articles_n


@admin.register(KnowledgeSettings)
class KnowledgeSettingsAdmin(admin.ModelAdmin):
    list_display = ("widget_key", "answer_only_from_kb", "min_score", "replace_unsupported")


@admin.register(Citation)
class CitationAdmin(admin.ModelAdmin):
    list_display = ("reply", "number", "title", "url", "created_at")
    readonly_fields = ("reply", "number", "chunk", "article", "title", "url", "created_at")
    list_select_related = ("reply",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class GapGroupingFilter(admin.SimpleListFilter):
    """Groups by default: a wording found to ask the same as an older gap (embeddings) is
    counted there and listed under it."""

    title = "grouping"
    parameter_name = "grouping"

    def lookups(self, request, model_admin):
        return (
            ("groups", "Groups"),
            ("variants", "Grouped wordings"),
            ("all", "All"),
        )

    def value(self):
        return super().value() or "groups"

    def choices(self, changelist):
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        if self.value() == "groups":
            return queryset.filter(grouped_into__isnull=True)
        if self.value() == "variants":
            return queryset.filter(grouped_into__isnull=False)
        return queryset


@admin.register(KnowledgeGap)
class KnowledgeGapAdmin(admin.ModelAdmin):
    list_display = ("question", "count", "reason", "status", "last_seen_at", "draft_link")
    list_filter = (GapGroupingFilter, "status", "reason")
    search_fields = ("question", "normalized_text")
    readonly_fields = (
        "normalized_text",
        "question",
        "reason",
        "count",
        "widget_key",
        "last_message",
        "drafted_article",
        "drafted_by",
        "first_seen_at",
        "last_seen_at",
        "grouped_into",
        "also_asked_as",
    )

    def has_add_permission(self, request):
        return False

    @admin.display(description="also asked as")
    def also_asked_as(self, obj):
        variants = obj.variants.order_by("-count")[:50]
        return (
            format_html_join(
                "", "<div>{} ({})</div>", ((v.question[:200], v.count) for v in variants)
            )
            or "—"
        )

    actions = ["draft_articles"]

    @admin.display(description="article")
    def draft_link(self, obj):
        if not obj.drafted_article_id:
            return ""
        url = reverse("admin:knowledge_article_change", args=[obj.drafted_article_id])
        return format_html('<a href="{}">Drafted article</a>', url)

    @admin.action(
        description="Draft an article from the question and the agent's answer",
        permissions=["change"],
    )
    def draft_articles(self, request, queryset):
        if not request.user.has_perm("knowledge.add_article"):
            raise PermissionDenied
        drafted = [
            knowledge_gap_draft(gap=gap, answer=gap_agent_answer(gap=gap), drafted_by=request.user)
            for gap in queryset.filter(drafted_article__isnull=True)
        ]
        if len(drafted) == 1:
            self.message_user(
                request,
                "Drafted an unpublished article: edit it, then publish it.",
                messages.SUCCESS,
            )
            return redirect("admin:knowledge_article_change", drafted[0].pk)
        self.message_user(
            request, f"Drafted {len(drafted)} unpublished article(s).", messages.SUCCESS
        )
        return None
