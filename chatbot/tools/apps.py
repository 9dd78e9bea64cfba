from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "chatbot.tools"
    label = "tools"
    verbose_name = "Tools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import builtins  # noqa: F401 - registers the built-in tools
