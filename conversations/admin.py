import json

from django.contrib import admin
from django.db import connection
from django.db.models import Count, TextField
from django.db.models.functions import Cast
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils.html import format_html

from accounts.audit import audit_event_record
from accounts.models import AuditEvent
from chatbot.moderation.policy import known_categories
from chatbot.moderation.services import moderation_flags_review

from . import handoff_rules
from .models import CannedReply, Conversation, HandoffRule, Message, ModerationFlag
from .selectors import open_flags_subquery


def transcript_link(*, conversation_id, message_id) -> str:
    """A link to the transcript, scrolled to one message (admin pages of any app use it)."""
    url = reverse("admin:conversations_conversation_change", args=[conversation_id])
    return format_html('<a href="{}#msg-{}">open transcript</a>', url, message_id)


class HasOpenFlagsFilter(admin.SimpleListFilter):
    title = "open moderation flags"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Has open flags"), ("no", "No open flags")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(open_flag_total__gt=0)
        if self.value() == "no":
            return queryset.filter(open_flag_total=0)
        return queryset


def open_flags_marker(count: int) -> str:
    """Reads the right way round: a red flag with the number when there is something to
    review, a quiet dash when there is nothing."""
    if not count:
        return format_html('<span class="{}" title="No open flags">—</span>', "cd-flags-none")
    return format_html(
        '<span class="cd-flags-open" title="{} open moderation flag(s)">⚑ {}</span>',
        count,
        count,
    )


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Transcripts are records: staff read them here, nobody edits them."""

    # The flag marker comes second, so it is on screen at any width.
    list_display = [
        "__str__",
        "open_flags",
        "customer",
        "status",
        "handling",
        "assignee",
        "message_count",
        "last_message_at",
    ]
    list_filter = ["status", "handling", HasOpenFlagsFilter, "created_at", "last_message_at"]
    search_fields = ["title", "customer__username", "customer__email", "messages__content"]
    list_select_related = ["customer", "assignee"]
    date_hierarchy = "last_message_at"
    ordering = ["-last_message_at"]
    fields = ["id", "customer", "widget_key", "title", "status", "created_at", "last_message_at"]
    readonly_fields = fields
    change_form_template = "admin/conversations/conversation/change_form.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                message_total=Count("messages", distinct=True),
                open_flag_total=open_flags_subquery(),
            )
        )

    @admin.display(description="Messages", ordering="message_total")
    def message_count(self, obj):
        return obj.message_total

    @admin.display(description="Open flags", ordering="-open_flag_total")
    def open_flags(self, obj):
        return open_flags_marker(obj.open_flag_total)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        transcript = (
            Message.objects.filter(conversation_id=object_id)
            .order_by("created_at", "id")
            .prefetch_related("moderation_flags", "provider_calls")
        )
        extra_context = {**(extra_context or {}), "transcript": transcript}
        response = super().change_view(request, object_id, form_url, extra_context)
        if request.method == "GET" and response.status_code == 200:
            audit_event_record(
                actor=request.user,
                action=AuditEvent.Action.TRANSCRIPT_VIEW,
                target_type="conversation",
                target_id=object_id,
            )
        return response


class FlagCategoryFilter(admin.SimpleListFilter):
    """`categories` is a JSON list: one choice per known category."""

    title = "category"
    parameter_name = "category"

    def lookups(self, request, model_admin):
        return [(c, c) for c in known_categories()]

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        if connection.vendor == "postgresql":
            return queryset.filter(categories__contains=[value])  # jsonb @>
        # SQLite (the demo) has no JSON containment: match the quoted name in the JSON text.
        return queryset.annotate(categories_text=Cast("categories", TextField())).filter(
            categories_text__contains=json.dumps(value)
        )


@admin.register(ModerationFlag)
class ModerationFlagAdmin(admin.ModelAdmin):
    """The review queue: filter by status "Open", confirm or dismiss (one by one or in bulk)."""

    list_display = [
        "created_at",
        "text_preview",
        "source",
        "action",
        "category_list",
        "rule",
        "review_status",
        "reviewer",
        "reviewed_at",
        "message_link",
    ]
    list_filter = ["review_status", FlagCategoryFilter, "action", "source", "created_at"]
    list_select_related = ["reviewer", "message__conversation__customer"]
    search_fields = ["rule", "note", "message__content"]
    ordering = ["-created_at"]
    actions = ["confirm_flags", "dismiss_flags", "reopen_flags"]
    readonly_fields = [
        "message_text",
        "customer",
        "message_link",
        "source",
        "categories",
        "scores",
        "rule",
        "action",
        "excerpt",
        "created_at",
        "reviewed_at",
        "reviewer",
    ]
    fields = [*readonly_fields, "review_status", "note"]

    @staticmethod
    def _flagged_text(obj) -> str:
        # A blocked reply was replaced before it was stored: the excerpt is what was said.
        return obj.excerpt or obj.message.content

    @admin.display(description="Text")
    def text_preview(self, obj):
        return truncatechars(" ".join(self._flagged_text(obj).split()), 90)

    @admin.display(description="Flagged text")
    def message_text(self, obj):
        # Whole, escaped, line breaks kept (it used to be cut at 40 characters).
        return format_html(
            '<div class="cd-flagged-text">{}</div>{}',
            self._flagged_text(obj),
            format_html("<p><small>Stored message: {}</small></p>", obj.message.content)
            if obj.excerpt and obj.excerpt != obj.message.content
            else "",
        )

    @admin.display(description="Customer")
    def customer(self, obj):
        return str(obj.message.conversation.customer or "Deleted customer")

    @admin.display(description="Categories")
    def category_list(self, obj):
        return ", ".join(obj.categories)

    @admin.display(description="Conversation")
    def message_link(self, obj):
        return transcript_link(
            conversation_id=obj.message.conversation_id, message_id=obj.message_id
        )

    def _review(self, request, queryset, status):
        count = moderation_flags_review(flags=queryset, reviewer=request.user, status=status)
        self.message_user(request, f"{count} flag(s) marked {status}.")

    @admin.action(description="Confirm selected flags", permissions=["change"])
    def confirm_flags(self, request, queryset):
        self._review(request, queryset, ModerationFlag.ReviewStatus.CONFIRMED)

    @admin.action(description="Dismiss selected flags", permissions=["change"])
    def dismiss_flags(self, request, queryset):
        self._review(request, queryset, ModerationFlag.ReviewStatus.DISMISSED)

    @admin.action(description="Reopen selected flags", permissions=["change"])
    def reopen_flags(self, request, queryset):
        self._review(request, queryset, ModerationFlag.ReviewStatus.OPEN)

    def save_model(self, request, obj, form, change):
        if "review_status" not in form.changed_data:  # only the note changed
            super().save_model(request, obj, form, change)
            return
        # A decision taken in the form is recorded like a bulk one (who, when): one write.
        moderation_flags_review(
            flags=[obj.pk], reviewer=request.user, status=obj.review_status, note=obj.note
        )

    def has_add_permission(self, request):
        return False


@admin.register(HandoffRule)
class HandoffRuleAdmin(admin.ModelAdmin):
    """Phrases that hand a conversation to a person (docs/handoff.md)."""

    list_display = ["phrase", "whole_message", "is_active", "created_at"]
    list_editable = ["whole_message", "is_active"]
    search_fields = ["phrase"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        handoff_rules.active_rules_forget()


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    """Prepared answers (managers write them; agents insert them in the inbox with /shortcut)."""

    list_display = ["shortcut", "language", "title", "updated_at"]
    list_filter = ["language"]
    search_fields = ["shortcut", "title", "body"]
    fields = ["shortcut", "language", "title", "body"]
