"""`BodySizeLimit`: refuse oversized request bodies before the server reads them.

Django's ASGI handler reads (and spools to disk) the whole body before any middleware runs,
so a Django middleware can only answer 413 after the upload. This pure-ASGI wrapper sits in
front of it (chatbot/asgi.py):

* a declared `Content-Length` over the limit is answered at once, without reading the body;
* a body without one (chunked) is counted as it is received; once past the limit the 413 goes
  out and the app is told the client disconnected (Django then drops the request);
* the 413 says `Connection: close`, so the server closes the socket instead of reading, and
  discarding, the rest of the body to keep the connection alive.
"""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .errors import error_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _declared_length(scope: Scope) -> int | None:
    """The Content-Length header as an int, None when absent; ValueError when invalid."""
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            length = int(value)
            if length < 0:
                raise ValueError(value)
            return length
    return None


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, path_prefix: str = "/api/"):
        self.app = app
        self.max_bytes = max_bytes
        self.path_prefix = path_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        try:
            declared = _declared_length(scope)
        except ValueError:
            await _answer(send, 400, "bad_request", "Invalid Content-Length header.")
            return
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        await self.app(scope, *_Counted(self, receive, send).channels())

    async def _too_large(self, send: Send) -> None:
        await _answer(
            send, 413, "payload_too_large", f"Request body exceeds {self.max_bytes} bytes."
        )


class _Counted:
    """The receive/send pair the app sees: counts body bytes, cuts the request at the limit."""

    def __init__(self, limit: BodySizeLimit, receive: Receive, send: Send):
        self.limit = limit
        self._receive = receive
        self._send = send
        self.received = 0
        self.refused = False
        self.response_started = False

    def channels(self) -> tuple[Receive, Send]:
        return self.receive, self.send

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit.max_bytes:
                self.refused = True
                if not self.response_started:
                    self.response_started = True
                    await self.limit._too_large(self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 went out; nothing the app says after it is sent
        if message["type"] == "http.response.start":
            self.response_started = True
        await self._send(message)
