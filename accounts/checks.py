"""System check: no admin page lists, shows or edits a stored secret (token hashes, encrypted
keys, identity secrets, passwords beyond Django's own masked widget)."""

from django.contrib import admin
from django.core.checks import Error, register

from chatbot.platform.crypto import SECRET_FIELD

# Django's UserAdmin shows `password` through a read-only widget that masks the hash.
_ALLOWED = {("accounts.user", "password")}


@register("security")
def admin_shows_no_secrets(app_configs, **kwargs):
    errors = []
    for model, model_admin in admin.site._registry.items():
        label = model._meta.label_lower
        names: set[str] = set(model_admin.list_display) | set(model_admin.search_fields)
        names |= set(model_admin.readonly_fields)
        # Declared fields only: undeclared forms hold editable fields, and secrets are
        # editable=False.
        declared = [model_admin.fields or ()]
        declared += [options.get("fields", ()) for _t, options in model_admin.fieldsets or ()]
        for fields in declared:
            for entry in fields:
                names |= set(entry) if isinstance(entry, list | tuple) else {entry}
        stored = {f.name for f in model._meta.concrete_fields}
        for name in sorted(n for n in names if isinstance(n, str)):
            field = name.lstrip("^=@").split("__")[0]
            # Only stored values count: write-only form fields and status methods are fine.
            if field in stored and SECRET_FIELD.search(field) and (label, field) not in _ALLOWED:
                errors.append(
                    Error(
                        f"{type(model_admin).__name__} exposes the secret field '{name}'",
                        hint="Show a boolean such as has_<field> instead.",
                        obj=model_admin,
                        id="chatdesk.E001",
                    )
                )
    return errors
