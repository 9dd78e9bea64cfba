from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied

from chatbot.models import LLMModel
from chatbot.privacy.admin import audit_preference_formset, erase_user_data, export_user_data

from .display import customer_display_name
from .models import AgentProfile, ApiToken, ModelPreference, User, WidgetKey
from .spend_admin import MonthSpendAdminMixin, budget_summary

FALLBACK_SLOTS = 3  # the router tries at most LLM_MAX_MODELS_PER_REPLY models anyway


class FallbackModelsWidget(forms.MultiWidget):
    """One select per fallback, in order (a multi-select would lose the order)."""

    def __init__(self, choices=()):
        super().__init__([forms.Select(choices=choices) for _ in range(FALLBACK_SLOTS)])

    def decompress(self, value):
        names = list(value or [])[:FALLBACK_SLOTS]
        return names + [""] * (FALLBACK_SLOTS - len(names))


class FallbackModelsField(forms.MultiValueField):
    def __init__(self, *, choices, **kwargs):
        fields = [forms.ChoiceField(choices=choices, required=False) for _ in range(FALLBACK_SLOTS)]
        super().__init__(
            fields, require_all_fields=False, widget=FallbackModelsWidget(choices), **kwargs
        )

    def compress(self, data_list):
        names: list[str] = []
        for name in data_list or []:
            if name and name not in names:  # blanks and repeats drop out; order is kept
                names.append(name)
        return names


def _catalogue_choices(current: list[str]) -> list[tuple[str, str]]:
    enabled = LLMModel.objects.filter(is_enabled=True).order_by("name")
    names = list(enabled.values_list("name", flat=True))
    # A stored name no longer in the catalogue stays selectable, so saving loses nothing.
    names += [n for n in current if isinstance(n, str) and n and n not in names]
    return [("", "—"), *[(n, n) for n in names]]


class ModelPreferenceForm(forms.ModelForm):
    class Meta:
        model = ModelPreference
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
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = list(self.instance.fallback_models or []) if self.instance.pk else []
        self.fields["fallback_models"] = FallbackModelsField(
            choices=_catalogue_choices(current),
            required=False,
            label="Fallback models",
            help_text="Tried in this order after the primary model (from the model catalogue).",
        )


class ModelPreferenceInline(admin.StackedInline):
    model = ModelPreference
    form = ModelPreferenceForm
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


# A manager may save a user's page (for the model preference inline) but change nothing of
# the user itself: no self-promotion, no password resets, no group edits (accounts.roles).
_SUPERUSER_ONLY_USER_FIELDS = [
    "username",
    "password",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
    "groups",
    "user_permissions",
    "last_login",
    "date_joined",
    "is_visitor",
    "external_id",
]


@admin.register(User)
class UserAdmin(MonthSpendAdminMixin, DjangoUserAdmin):
    inlines = [ModelPreferenceInline]
    list_display = [
        "display_name",
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

    @admin.display(description="Name", ordering="first_name")
    def display_name(self, obj) -> str:
        return customer_display_name(obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            fields += [f for f in _SUPERUSER_ONLY_USER_FIELDS if f not in fields]
        return fields

    def has_export_permission(self, request) -> bool:
        return request.user.is_superuser  # a whole person's data: admins only

    def user_change_password(self, request, id, form_url=""):
        if not request.user.is_superuser:
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

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


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    """Managers set an agent's capacity and public name; agents set their own status in the
    inbox (its heartbeat keeps last_seen_at fresh)."""

    list_display = ["user", "public_name", "status", "capacity", "last_seen_at", "last_assigned_at"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "public_name"]
    fields = ["user", "public_name", "capacity", "status", "last_seen_at", "last_assigned_at"]
    readonly_fields = ["last_seen_at", "last_assigned_at"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = User.objects.filter(is_staff=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
