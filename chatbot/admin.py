from django import forms
from django.conf import settings
from django.contrib import admin

from conversations.admin import transcript_link

from .models import LLMEndpoint, LLMModel, ProviderCall
from .routing.breaker import breaker_for
from .routing.selectors import endpoint_breaker_key
from .routing.services import llm_endpoint_set_api_key

# Chatdesk branding (templates/admin/base_site.html shows it).
admin.site.site_header = "Chatdesk"
admin.site.site_title = "Chatdesk staff"
admin.site.index_title = "Chatdesk administration"


class LLMEndpointForm(forms.ModelForm):
    """The API key is write-only: typed into a password box, stored encrypted, never shown."""

    new_api_key = forms.CharField(
        label="API key",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Leave empty to keep the current key. Stored encrypted; never shown again.",
    )
    clear_api_key = forms.BooleanField(label="Remove the stored key", required=False)
    base_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        help_text="e.g. http://ollama:11434/v1 — blank means api.openai.com.",
    )

    class Meta:
        model = LLMEndpoint
        fields = ["name", "base_url", "connect_timeout", "read_timeout", "is_enabled"]

    def clean(self):
        data = super().clean()
        total = (data.get("connect_timeout") or 0) + (data.get("read_timeout") or 0)
        if total > settings.LLM_ROUTE_BUDGET_SECONDS:
            # The router never starts an attempt that could outlive the Celery time limit.
            raise forms.ValidationError(
                f"Connect + read timeout ({total:g} s) must not exceed the route budget "
                f"(LLM_ROUTE_BUDGET_SECONDS = {settings.LLM_ROUTE_BUDGET_SECONDS:g} s)."
            )
        if total >= settings.REPLY_LEASE_SECONDS:
            # A silent attempt longer than the lease lets the sweeper hand the reply on.
            raise forms.ValidationError(
                f"Connect + read timeout ({total:g} s) must stay below the reply lease "
                f"(REPLY_LEASE_SECONDS = {settings.REPLY_LEASE_SECONDS:g} s)."
            )
        return data


@admin.register(LLMEndpoint)
class LLMEndpointAdmin(admin.ModelAdmin):
    form = LLMEndpointForm
    list_display = [
        "name",
        "server",
        "api_key_status",
        "connect_timeout",
        "read_timeout",
        "is_enabled",
        "circuit",
    ]
    list_filter = ["is_enabled"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["api_key_status", "circuit", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "base_url", "is_enabled"]}),
        ("Credentials", {"fields": ["api_key_status", "new_api_key", "clear_api_key"]}),
        ("Timeouts (seconds)", {"fields": ["connect_timeout", "read_timeout"]}),
        ("Status", {"fields": ["circuit", "created_at", "updated_at"]}),
    ]

    @admin.display(description="Server")
    def server(self, obj):
        return obj.base_url or "api.openai.com"

    @admin.display(description="API key")
    def api_key_status(self, obj):
        return "set" if obj.has_api_key else "not set"

    @admin.display(description="Circuit")
    def circuit(self, obj):
        if not obj.pk:
            return "-"
        return breaker_for(endpoint_breaker_key(obj.pk)).state().replace("_", "-")

    def save_model(self, request, obj, form, change):
        key = form.cleaned_data.get("new_api_key") or ""
        if form.cleaned_data.get("clear_api_key"):
            key = ""
        elif not key:
            super().save_model(request, obj, form, change)  # keep the stored key
            return
        llm_endpoint_set_api_key(endpoint=obj, api_key=key, save=False)
        super().save_model(request, obj, form, change)  # one save, key included


@admin.register(LLMModel)
class LLMModelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "endpoint",
        "context_window",
        "input_price_per_million",
        "output_price_per_million",
        "is_enabled",
    ]
    list_filter = ["is_enabled", "endpoint"]
    list_select_related = ["endpoint"]
    search_fields = ["name"]


# What one attempt did and cost: listed and shown alike.
_ATTEMPT_FIELDS = [
    "attempt",
    "outcome",
    "http_status",
    "error_kind",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost",
]


@admin.register(ProviderCall)
class ProviderCallAdmin(admin.ModelAdmin):
    """The ledger is a record: staff read and filter it, nobody edits it."""

    list_display = ["created_at", "model", "endpoint_name", *_ATTEMPT_FIELDS, "transcript"]
    list_filter = ["outcome", "error_kind", "model", "endpoint", "created_at"]
    list_select_related = ["reply"]
    search_fields = ["model", "endpoint_name", "error_kind", "=reply__id"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-id"]
    fields = [
        "created_at",
        "reply",
        "customer",
        "endpoint",
        "endpoint_name",
        "model",
        *_ATTEMPT_FIELDS,
    ]
    readonly_fields = fields

    @admin.display(description="Conversation")
    def transcript(self, obj):
        if obj.reply is None:
            return "-"
        return transcript_link(conversation_id=obj.reply.conversation_id, message_id=obj.reply_id)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
