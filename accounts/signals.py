"""Signal receivers (interfaces only: they call selectors, never hold domain flow)."""

from .selectors import origin_allowed_by_any_widget_key


def cors_allow_widget_origins(sender, request, **kwargs) -> bool:
    origin = request.headers.get("Origin")
    return bool(origin) and origin_allowed_by_any_widget_key(origin=origin)
