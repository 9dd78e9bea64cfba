"""Signal receivers (interfaces only: they call selectors, never hold domain flow)."""

from .selectors import WIDGET_ORIGINS, origin_allowed_by_any_widget_key
from .services import model_preference_cache_forget


def cors_allow_widget_origins(sender, request, **kwargs) -> bool:
    origin = request.headers.get("Origin")
    return bool(origin) and origin_allowed_by_any_widget_key(origin=origin)


def widget_key_changed(sender, instance, **kwargs) -> None:
    """A widget key saved or deleted: every process reads the allowed origins again once it
    commits (turning a key off, or removing an origin, takes effect at the next request)."""
    WIDGET_ORIGINS.changed()


def preference_changed(sender, instance, **kwargs) -> None:
    """A preference saved or deleted (the admin, a shell, erasure): its cached copy goes.
    Cache coherence, not domain flow: every write path is covered, whoever makes it."""
    model_preference_cache_forget(user_id=instance.user_id)


def preference_allowed_models_changed(sender, instance, action, **kwargs) -> None:
    if action in ("post_add", "post_remove", "post_clear"):
        if hasattr(instance, "user_id"):
            model_preference_cache_forget(user_id=instance.user_id)
        else:  # changed from the catalogue model's side: every preference it was in
            from .models import ModelPreference

            for user_id in ModelPreference.objects.filter(
                allowed_models__in=kwargs.get("pk_set") or ()
            ).values_list("user_id", flat=True):
                model_preference_cache_forget(user_id=user_id)
