from django.contrib import admin
from django.db.models import Count, Exists, OuterRef

from .models import Conversation, Message, ModerationFlag


class HasOpenFlagsFilter(admin.SimpleListFilter):
    title = "open moderation flags"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Has open flags"), ("no", "No open flags")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(has_open_flags=True)
        if self.value() == "no":
            return queryset.filter(has_open_flags=False)
        return queryset


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Transcripts are records: staff read them here, nobody edits them."""

    list_display = ["__str__", "customer", "status", "message_count", "last_message_at",
                    "open_flags"]
    list_filter = ["status", HasOpenFlagsFilter, "created_at", "last_message_at"]
    search_fields = ["title", "customer__username", "customer__email", "messages__content"]
    list_select_related = ["customer"]
    date_hierarchy = "last_message_at"
    ordering = ["-last_message_at"]
    fields = ["id", "customer", "widget_key", "title", "status", "created_at", "last_message_at"]
    readonly_fields = fields
    change_form_template = "admin/conversations/conversation/change_form.html"

    def get_queryset(self, request):
        open_flags = ModerationFlag.objects.filter(
            message__conversation=OuterRef("pk"), review_status=ModerationFlag.ReviewStatus.OPEN)
        return (super().get_queryset(request)
                .annotate(message_total=Count("messages", distinct=True),
                          has_open_flags=Exists(open_flags)))

    @admin.display(description="Messages", ordering="message_total")
    def message_count(self, obj):
        return obj.message_total

    @admin.display(description="Open flags", boolean=True, ordering="has_open_flags")
    def open_flags(self, obj):
        return obj.has_open_flags

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        transcript = (Message.objects.filter(conversation_id=object_id)
                      .order_by("created_at", "id")
                      .prefetch_related("moderation_flags"))
        extra_context = {**(extra_context or {}), "transcript": transcript}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(ModerationFlag)
class ModerationFlagAdmin(admin.ModelAdmin):
    list_display = ["created_at", "source", "action", "rule", "review_status", "reviewer",
                    "message_link"]
    list_filter = ["review_status", "action", "source", "created_at"]
    list_select_related = ["reviewer", "message"]
    search_fields = ["rule", "note", "message__content"]
    readonly_fields = ["message", "source", "categories", "scores", "rule", "action",
                       "created_at", "reviewed_at", "reviewer"]
    fields = [*readonly_fields, "review_status", "note"]

    @admin.display(description="Conversation")
    def message_link(self, obj):
        from django.urls import reverse
        from django.utils.html import format_html

        url = reverse("admin:conversations_conversation_change",
                      args=[obj.message.conversation_id])
        return format_html('<a href="{}#msg-{}">open transcript</a>', url, obj.message_id)

    def has_add_permission(self, request):
        return False
