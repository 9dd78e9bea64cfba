from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and access"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled
        from django.db.models.signals import post_migrate

        from . import checks, schema  # noqa: F401 - registers the check and the OpenAPI auth
        from .roles import roles_sync_after_migrate
        from .signals import cors_allow_widget_origins

        check_request_enabled.connect(cors_allow_widget_origins, dispatch_uid="widget-cors")
        # Once per migrate (sender: this app), after which the roles hold exactly their lists.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="roles-sync")

        from django.db.models.signals import m2m_changed, post_delete, post_save

        from .models import ModelPreference, WidgetKey
        from .signals import (
            preference_allowed_models_changed,
            preference_changed,
            widget_key_changed,
        )

        for signal in (post_save, post_delete):
            signal.connect(widget_key_changed, sender=WidgetKey, dispatch_uid="widget-origins")

        for signal in (post_save, post_delete):
            signal.connect(preference_changed, sender=ModelPreference, dispatch_uid="pref-cache")
        m2m_changed.connect(
            preference_allowed_models_changed,
            sender=ModelPreference.allowed_models.through,
            dispatch_uid="pref-cache-allowed",
        )
