"""API rate limits (DRF throttles) kept in the shared cache (Redis), so every web process
sees the same counters. Rates live in REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (env
RATE_LIMIT_*). Only writes count (sending a message, creating or renaming a conversation):
reading a transcript or polling it is never limited here.

A throttled request answers 429 with `Retry-After` and code `rate_limited` (the exception
handler in chatbot.exceptions).
"""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class _WriteThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        # Read at request time (not import time) so settings overrides take effect.
        return settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {}).get(self.scope)

    def allow_request(self, request, view) -> bool:
        if request.method in _SAFE_METHODS:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class CustomerWriteThrottle(_WriteThrottle):
    """Per customer (visitor or identified user)."""

    scope = "chat_user"

    def get_cache_key(self, request, view) -> str | None:
        if not request.user or not request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk}


class WidgetKeyWriteThrottle(_WriteThrottle):
    """Per widget key: all the visitors of one embedding together (the bearer token's
    `widget_key_id`). Requests not made through a widget token are not counted here."""

    scope = "chat_widget_key"

    def get_cache_key(self, request, view) -> str | None:
        widget_key_id = getattr(request.auth, "widget_key_id", None)
        if widget_key_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": widget_key_id}
