from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from chatbot.privacy.admin import audit_preference_formset, erase_user_data, export_user_data

from .models import ApiToken, ModelPreference, User, WidgetKey
from .spend_admin import MonthSpendAdminMixin, budget_summary


class ModelPreferenceInline(admin.StackedInline):
    model = ModelPreference
    can_delete = True
    extra = 0
    max_num = 1
    fields = [
        "model",
        "fallback_models",
        "allowed_models",
        "temperature",
        "max_tokens",
        "language",
        "persona",
        "monthly_token_budget",
        "monthly_cost_budget",
        "effective_budget",
    ]
    readonly_fields = ["effective_budget"]
    autocomplete_fields = ["allowed_models"]  # the model catalogue (chatbot.LLMModel)

    @admin.display(description="Effective budget")
    def effective_budget(self, obj) -> str:
        return budget_summary(obj) if obj and obj.pk else "—"


@admin.register(User)
class UserAdmin(MonthSpendAdminMixin, DjangoUserAdmin):
    inlines = [ModelPreferenceInline]
    list_display = [
        "username",
        "email",
        "is_visitor",
        "is_staff",
        "date_joined",
        "last_login",
        "month_spend",
    ]
    list_filter = ["is_visitor", "is_staff", "is_superuser", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name", "external_id"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Customer", {"fields": ["is_visitor", "external_id"]}),
        ("Usage", {"fields": ["month_spend"]}),  # docs/cost-control.md
    ]
    actions = [export_user_data, erase_user_data]

    def save_formset(self, request, form, formset, change):
        super().save_formset(request, form, formset, change)
        audit_preference_formset(request, formset)


@admin.register(WidgetKey)
class WidgetKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "public_key", "is_active", "identity_secret", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "identity_secret", "created_at"]
    fields = ["name", "public_key", "allowed_origins", "is_active", "identity_secret", "created_at"]
    actions = ["rotate_identity_secret"]

    @admin.display(description="Identity secret")
    def identity_secret(self, obj) -> str:
        return "set" if obj.has_identity_secret else "not set"  # never the secret itself

    @admin.action(description="Generate a new identity secret (shown once)")
    def rotate_identity_secret(self, request, queryset):
        from django.contrib import messages

        from .services import widget_key_rotate_identity_secret

        for widget_key in queryset:
            secret = widget_key_rotate_identity_secret(widget_key=widget_key)
            self.message_user(
                request,
                f"New identity secret for {widget_key.name}: {secret} — copy it now, "
                "it will not be shown again. The old one stops working.",
                messages.WARNING,
            )


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens can be reviewed and revoked (deleted), never read back: only hashes exist."""

    list_display = ["user", "widget_key", "created_at", "last_used_at", "expires_at"]
    list_select_related = ["user", "widget_key"]
    readonly_fields = ["user", "widget_key", "created_at", "last_used_at"]
    fields = ["user", "widget_key", "created_at", "last_used_at", "expires_at"]
    search_fields = ["user__username"]

    def has_add_permission(self, request):
        return False
