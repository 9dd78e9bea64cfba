from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import ConversationSummary


@admin.register(ConversationSummary)
class ConversationSummaryAdmin(admin.ModelAdmin):
    """The rows behind the dashboard, for checking a figure: read-only."""

    list_display = [
        "day",
        "widget_key",
        "outcome",
        "customer_messages",
        "bot_replies",
        "handed_off",
        "pickup_seconds",
        "csat_satisfied",
        "cost",
        "conversation_link",
    ]
    list_filter = ["outcome", "handed_off", "day", "widget_key"]
    list_select_related = ["widget_key"]
    date_hierarchy = "day"
    ordering = ["-day", "-id"]
    change_list_template = "admin/insights/conversationsummary/change_list.html"

    @admin.display(description="Conversation")
    def conversation_link(self, obj):
        if obj.conversation_id is None:
            return "-"
        url = reverse("admin:conversations_conversation_change", args=[obj.conversation_id])
        return format_html('<a href="{}">open</a>', url)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
