"""ASGI entry point (uvicorn): needed for the streaming SSE endpoint."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")
application = get_asgi_application()

from chatbot.tokens import tokenizer_warm_up  # noqa: E402 - needs the app set up

tokenizer_warm_up()  # at start-up, not in a customer's first request
