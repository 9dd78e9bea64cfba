"""Admin side of privacy: export/erase actions on users, and the read-only audit trail.

Actions are interfaces: they authorise, ask for confirmation and call the same selector and
service as the self-service API, then record an audit event.
"""

import json

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.audit import audit_event_record
from accounts.models import AuditEvent, ErasureRecord, ModelPreference
from chatbot.platform.errors import ApplicationError

from .selectors import user_data_export, user_data_summary
from .services import user_erase


# "export": UserAdmin.has_export_permission (admins only; managers may change a user's
# model preference, which is not a licence to take their whole record).
@admin.action(description="Export all data of the selected users (JSON)", permissions=["export"])
def export_user_data(modeladmin, request, queryset):
    exports = []
    for user in queryset.order_by("date_joined"):
        exports.append(user_data_export(user=user))
        audit_event_record(
            actor=request.user,
            action=AuditEvent.Action.USER_EXPORT,
            target_type="user",
            target_id=user.pk,
        )
    document = exports[0] if len(exports) == 1 else {"exports": exports}
    response = HttpResponse(
        json.dumps(document, cls=DjangoJSONEncoder, indent=2), content_type="application/json"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="chatdesk-export-{stamp}.json"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(
    description="Erase all data of the selected users (GDPR Art. 17)…", permissions=["delete"]
)
def erase_user_data(modeladmin, request, queryset):
    users = list(queryset.order_by("date_joined"))
    refused = [u for u in users if u.is_staff or u.is_superuser]
    if refused:
        modeladmin.message_user(
            request,
            "Staff accounts cannot be erased here: demote them first ("
            + ", ".join(u.get_username() for u in refused)
            + ").",
            messages.ERROR,
        )
        return None
    if request.POST.get("post") == "yes":  # the confirmation page was submitted
        done = 0
        for user in users:
            try:
                user_erase(user=user, route=ErasureRecord.Route.STAFF, actor=request.user)
                done += 1
            except ApplicationError as exc:
                modeladmin.message_user(request, exc.message, messages.ERROR)
        modeladmin.message_user(
            request,
            f"Erased {done} user(s). Only anonymous erasure records remain.",
            messages.SUCCESS,
        )
        return None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Erase personal data: are you sure?",
        "opts": modeladmin.model._meta,
        "rows": [(u, user_data_summary(user=u)) for u in users],
        "queryset": queryset,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "action_name": "erase_user_data",
    }
    return TemplateResponse(request, "admin/accounts/user/erase_confirmation.html", context)


def audit_preference_formset(request, formset) -> None:
    """Called after the user admin saved an inline: record model-preference changes.

    Field names only, never values: a persona may quote the customer."""
    if formset.model is not ModelPreference:
        return
    changes = [(obj, "created", []) for obj in formset.new_objects]
    changes += [(obj, "changed", fields) for obj, fields in formset.changed_objects]
    changes += [(obj, "deleted", []) for obj in formset.deleted_objects]
    for obj, kind, fields in changes:
        if kind == "created":
            fields = [f for f in formset.form.base_fields if obj.serializable_value(f)]
        audit_event_record(
            actor=request.user,
            action=AuditEvent.Action.PREFERENCE_CHANGE,
            target_type="user",
            target_id=obj.user_id,
            detail={"change": kind, "fields": sorted(fields)},
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The trail is append-only: managers with the view permission read it, nobody edits."""

    list_display = ["created_at", "actor", "action", "target_type", "target_id"]
    list_filter = ["action", "target_type", "created_at"]
    list_select_related = ["actor"]
    search_fields = ["target_id", "actor__username"]
    date_hierarchy = "created_at"
    fields = ["created_at", "actor", "action", "target_type", "target_id", "detail"]
    readonly_fields = fields


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdmin):
    list_display = ["id", "created_at", "route"]
    list_filter = ["route", "created_at"]
    fields = ["id", "created_at", "route", "counts"]
    readonly_fields = fields
