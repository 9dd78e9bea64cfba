from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and access"

    def ready(self) -> None:
        from corsheaders.signals import check_request_enabled

        from . import checks, schema  # noqa: F401 - registers the check and the OpenAPI auth
        from .signals import cors_allow_widget_origins

        check_request_enabled.connect(cors_allow_widget_origins, dispatch_uid="widget-cors")
