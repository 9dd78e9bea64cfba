"""API rate limits (DRF throttles) kept in the shared cache (Redis), so every web process
sees the same counters. Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (env
RATE_LIMIT_*). Only writes count (sending a message, creating or renaming a conversation):
reading a transcript or polling it is never limited here.

A throttled request answers 429 with `Retry-After` and code `rate_limited` (the exception
handler in chatbot.platform.errors).
"""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


class SettingsRates:
    """DRF reads DEFAULT_THROTTLE_RATES once, at import. DRF makes a throttle per request
    and asks `get_rate()` then, so reading the setting here keeps every throttle in step
    with the current settings (environment reloads, tests' overrides)."""

    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)


class _WritesOnly:
    def allow_request(self, request, view) -> bool:
        return request.method in SAFE_METHODS or super().allow_request(request, view)


class CustomerWriteThrottle(SettingsRates, _WritesOnly, UserRateThrottle):
    """Per customer (visitor or identified user)."""

    scope = "chat_user"


class WidgetKeyWriteThrottle(SettingsRates, _WritesOnly, SimpleRateThrottle):
    """Per widget key: all the visitors of one embedding together (the bearer token's
    `widget_key_id`). Requests not made through a widget token are not counted here."""

    scope = "chat_widget_key"

    def get_cache_key(self, request, view) -> str | None:
        widget_key_id = getattr(request.auth, "widget_key_id", None)
        if widget_key_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": widget_key_id}


class WidgetSessionThrottle(SettingsRates, AnonRateThrottle):
    """Per IP address: new visitor sessions."""

    scope = "widget_session"


class PrivacyThrottle(SettingsRates, UserRateThrottle):
    """Exports are heavy and erasure is final: a low per-user rate is plenty."""

    scope = "privacy"
