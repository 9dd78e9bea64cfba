"""The app as served (chatbot.asgi), wrapped to count the body bytes the server handed to it
per request, so a test can tell how much of an upload was read. `GET /__bytes_read__`
answers the count of the previous request. Tests only.

`ASGI_PROBE_UNWRAPPED=1` serves Django's app without `BodySizeLimit`, for the "before" figures.
"""

import json
import os

from chatbot.asgi import application, django_application

served = django_application if os.environ.get("ASGI_PROBE_UNWRAPPED") == "1" else application

_last = {"bytes_read": 0}


async def probe(scope, receive, send):
    if scope["type"] != "http":
        await served(scope, receive, send)
        return
    if scope["path"] == "/__bytes_read__":
        body = json.dumps(_last).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    _last["bytes_read"] = 0

    async def counted():
        message = await receive()
        if message["type"] == "http.request":
            _last["bytes_read"] += len(message.get("body", b""))
        return message

    await served(scope, counted, send)
