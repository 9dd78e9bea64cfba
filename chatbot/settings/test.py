"""Test settings: real Postgres and Redis (the suite never swaps them for fakes).

DATABASE_URL / REDIS_URL may point elsewhere; by default they are the machine's local
services. pytest-django creates (and drops) `test_<name>` for the run.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chatdesk")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("CELERY_EAGER_IN_BACKGROUND", "false")  # inline: tests see the result
os.environ.setdefault("DJANGO_READ_DOT_ENV", "false")
os.environ.setdefault("OFFLINE_RESPONDER_DELAY_MS", "0")
os.environ.setdefault("LLM_MAX_RETRIES", "0")
# Cost control (docs/cost-control.md): no debounce delay and roomy rate limits unless a test
# turns them on; tests of those features set their own values.
os.environ.setdefault("CHAT_DEBOUNCE_SECONDS", "0")
os.environ.setdefault("RATE_LIMIT_USER", "10000/minute")
os.environ.setdefault("RATE_LIMIT_WIDGET_KEY", "10000/minute")
# The tool stub (tests/tool_stub.py) listens on loopback: reached through the allow-list.
os.environ.setdefault("TOOLS_SSRF_ALLOWED_NETWORKS", "127.0.0.1/32")
# A queue of this run's own, so a stale message from an earlier run is never consumed.
os.environ.setdefault("CELERY_TASK_DEFAULT_QUEUE", f"chatdesk-test-{os.getpid()}")

from .base import *  # noqa: F403
from .base import REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = ["rest_framework.renderers.JSONRenderer"]
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
STATIC_ROOT = None  # tests serve static files through the finders
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = True
