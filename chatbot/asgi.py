"""ASGI entry point (uvicorn): needed for the streaming SSE endpoint."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402

from chatbot.platform.asgi_body_limit import BodySizeLimit  # noqa: E402

# Oversized API bodies are refused before they are read (Django would read them whole first).
application = BodySizeLimit(
    django_application, max_bytes=settings.API_MAX_BODY_BYTES, path_prefix="/api/"
)

# Pay start-up costs now, not in a customer's first request: the engine and the openai SDK
# (imported lazily by the post-commit enqueue), the URL resolver, the tokenizer.
from django.urls import get_resolver  # noqa: E402

import chatbot.replies.tasks  # noqa: E402, F401
from chatbot.prompt.tokens import tokenizer_warm_up  # noqa: E402

get_resolver().url_patterns  # noqa: B018 - builds the resolver
tokenizer_warm_up()
