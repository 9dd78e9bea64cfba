from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import ApiToken, ModelPreference, User, WidgetKey


class ModelPreferenceInline(admin.StackedInline):
    model = ModelPreference
    can_delete = True
    extra = 0
    max_num = 1
    fields = ["model", "fallback_models", "temperature", "max_tokens", "language", "persona"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [ModelPreferenceInline]
    list_display = ["username", "email", "is_visitor", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_visitor", "is_staff", "is_superuser", "is_active"]
    search_fields = ["username", "email", "first_name", "last_name", "external_id"]
    fieldsets = [
        *DjangoUserAdmin.fieldsets,
        ("Customer", {"fields": ["is_visitor", "external_id"]}),
    ]


@admin.register(WidgetKey)
class WidgetKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "public_key", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "public_key"]
    readonly_fields = ["public_key", "created_at"]
    fields = ["name", "public_key", "allowed_origins", "is_active", "created_at"]


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
