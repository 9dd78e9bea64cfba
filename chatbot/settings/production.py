"""Production settings: base + HTTPS hardening + a Content-Security-Policy. Fails fast.

`DJANGO_SETTINGS_MODULE=chatbot.settings.production python manage.py check --deploy`
must report no issues; tests/test_production_settings.py runs exactly that. The checklist
is in docs/security.md.
"""

import os

from django.core.exceptions import ImproperlyConfigured

# Production never reads a stray .env unless told to, and never runs with DEBUG on (set
# before base is imported, as base derives other settings from DEBUG).
os.environ.setdefault("DJANGO_READ_DOT_ENV", "false")
os.environ.setdefault("DJANGO_DEBUG", "false")

from csp.constants import NONCE, NONE, SELF

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, MIDDLEWARE, env

DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"  # noqa: S105 - the known-bad value

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("DJANGO_DEBUG must not be true in production.")

# --- Secrets: required, no defaults -------------------------------------------------------
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if (
    not SECRET_KEY
    or SECRET_KEY == DEV_SECRET_KEY
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters, e.g. "
        "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
    )
# Stored secrets (widget identity secrets, provider keys) must not hang off SECRET_KEY:
# rotating the session key would make them unreadable.
FIELD_ENCRYPTION_KEY = env.str("FIELD_ENCRYPTION_KEY", default="")
if not FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEY is required in production (a Fernet key: python -c 'from "
        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS is required, e.g. chat.example.com")

# --- HTTPS --------------------------------------------------------------------------------
# Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (only then: a client could
# send the header itself when nothing strips it).
if env.bool("DJANGO_BEHIND_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = env.bool("DJANGO_USE_X_FORWARDED_HOST", default=False)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# Load balancers probe over plain HTTP on the internal network (and /healthz, /readyz and
# /metrics are answered before the redirect anyway: chatbot/platform/middleware.py).
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # the admin and our pages are never framed

# --- Content-Security-Policy (django-csp) ---------------------------------------------------
# Everything we serve comes from our own origin (no CDN: deployments may be offline). Inline
# <style> blocks in our templates carry the per-request nonce; there is no inline script.
INSTALLED_APPS = [*INSTALLED_APPS, "csp"]
MIDDLEWARE = [*MIDDLEWARE]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
_csp_report_uri = env.str("CSP_REPORT_URI", default="")
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        # The widget's fetch + SSE go to our own API.
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        **({"report-uri": [_csp_report_uri]} if _csp_report_uri else {}),
    },
}

# --- API ----------------------------------------------------------------------------------
# JSON only: the browsable API is a DEBUG convenience.
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]  # noqa: F405
