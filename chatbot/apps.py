from django.apps import AppConfig


class ChatbotConfig(AppConfig):
    name = "chatbot"
    verbose_name = "Bot engine"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from .models import LLMEndpoint, LLMModel

        # Cache coherence (not domain flow): any change to the catalogue drops its copy.
        for model in (LLMModel, LLMEndpoint):
            for signal in (post_save, post_delete):
                signal.connect(_catalogue_changed, sender=model, dispatch_uid=f"catalogue-{model}")


def _catalogue_changed(sender, **kwargs) -> None:
    from .routing.services import catalogue_cache_forget

    catalogue_cache_forget()
