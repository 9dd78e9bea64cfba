from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "chatbot.tools"
    label = "tools"
    verbose_name = "Tools"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from . import builtins  # noqa: F401 - registers the built-in tools
        from .models import Tool
        from .selectors import tools_changed

        post_save.connect(tools_changed, sender=Tool, dispatch_uid="tools-fresh-save")
        post_delete.connect(tools_changed, sender=Tool, dispatch_uid="tools-fresh-delete")
        m2m_changed.connect(
            tools_changed, sender=Tool.widget_keys.through, dispatch_uid="tools-fresh-keys"
        )
