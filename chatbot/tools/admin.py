"""Managers define HTTP tools here; staff read the ledger of calls (nobody edits it)."""

from django import forms
from django.conf import settings
from django.contrib import admin

from conversations.admin import transcript_link

from ..routing.breaker import breaker_for
from .models import Tool, ToolCall
from .services import tool_set_auth_header


class ToolForm(forms.ModelForm):
    """The auth header's value is write-only: typed into a password box, stored encrypted."""

    new_auth_header = forms.CharField(
        label="Auth header value",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="e.g. 'Bearer abc…'. Leave empty to keep the current value. Stored "
        "encrypted; never shown again.",
    )
    clear_auth_header = forms.BooleanField(label="Remove the stored value", required=False)
    url = forms.URLField(max_length=500, assume_scheme="https", help_text="https://…")

    class Meta:
        model = Tool
        fields = [
            "name",
            "description",
            "parameters",
            "url",
            "method",
            "auth_header_name",
            "timeout_seconds",
            "widget_keys",
            "effect",
            "needs_identity",
            "identity_in",
            "identity_name",
            "status_label",
            "confirmation_label",
            "is_enabled",
        ]

    def clean_widget_keys(self):
        keys = self.cleaned_data.get("widget_keys")
        limit = settings.TOOLS_MAX_PER_WIDGET_KEY
        for key in keys or ():
            others = Tool.objects.filter(widget_keys=key).exclude(pk=self.instance.pk).count()
            if others + 1 > limit:
                raise forms.ValidationError(
                    f"{key} already has {others} tools; at most {limit} per widget key "
                    "(TOOLS_MAX_PER_WIDGET_KEY)."
                )
        return keys


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    form = ToolForm
    list_display = [
        "name",
        "method",
        "url",
        "effect",
        "needs_identity",
        "auth_header_status",
        "is_enabled",
        "circuit",
    ]
    list_filter = ["is_enabled", "effect", "needs_identity"]
    search_fields = ["name", "description", "url"]
    filter_horizontal = ["widget_keys"]
    readonly_fields = ["auth_header_status", "circuit", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "description", "parameters", "is_enabled"]}),
        ("Request", {"fields": ["url", "method", "timeout_seconds"]}),
        (
            "Credentials",
            {
                "fields": [
                    "auth_header_name",
                    "auth_header_status",
                    "new_auth_header",
                    "clear_auth_header",
                ]
            },
        ),
        (
            "Who may use it",
            {"fields": ["widget_keys", "needs_identity", "identity_in", "identity_name"]},
        ),
        ("Effects", {"fields": ["effect", "status_label", "confirmation_label"]}),
        ("Status", {"fields": ["circuit", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Auth header")
    def auth_header_status(self, obj):
        return "set" if obj.has_auth_header else "not set"

    @admin.display(description="Circuit")
    def circuit(self, obj):
        if not obj.pk:
            return "-"
        return breaker_for(f"tool:{obj.name}").state().replace("_", "-")

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data.get("new_auth_header") or ""
        if form.cleaned_data.get("clear_auth_header"):
            tool_set_auth_header(tool=obj, value="", save=False)
        elif value:
            tool_set_auth_header(tool=obj, value=value, save=False)
        super().save_model(request, obj, form, change)


_CALL_FIELDS = [
    "tool_name",
    "status",
    "error_code",
    "latency_ms",
    "result_chars",
    "round",
    "read_only",
]


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    """The ledger of tool calls: a record, read and filtered, never edited."""

    list_display = ["created_at", *_CALL_FIELDS, "transcript"]
    list_filter = ["status", "tool_name", "read_only", "created_at"]
    search_fields = ["tool_name", "call_id", "=reply__id", "=conversation__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    fields = [
        "created_at",
        "finished_at",
        "conversation",
        "reply",
        "tool",
        "call_id",
        "label",
        "arguments_masked",
        *_CALL_FIELDS,
    ]
    readonly_fields = fields

    @admin.display(description="Conversation")
    def transcript(self, obj):
        return transcript_link(conversation_id=obj.conversation_id, message_id=obj.reply_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
