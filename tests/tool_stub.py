"""A real HTTP server on loopback standing in for a shop's tool endpoints (chatbot.tools).

Scripted per path; every request is recorded (method, path, query, headers, JSON body)
before it is answered, so a test can count calls even when the caller dies mid-request.
Reached by the tools' SSRF guard through TOOLS_SSRF_ALLOWED_NETWORKS (127.0.0.1/32 in the
test settings); worker processes reach it too.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class ToolReply:
    """What one path answers: a JSON body (or raw text), a status, a delay, a redirect."""

    body: Any = field(default_factory=lambda: {"ok": True})
    status: int = 200
    delay: float = 0.0
    location: str | None = None  # with a 3xx status: the redirect target
    raw: str | None = None


@dataclass
class ToolRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


class ToolStub:
    def __init__(self) -> None:
        self.routes: dict[str, ToolReply] = {}
        self.requests: list[ToolRequest] = []
        self._lock = threading.Condition()
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> ToolStub:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body leave at once (no 40 ms stall)

            def log_message(self, *args) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                parts = urlsplit(self.path)
                with stub._lock:
                    stub.requests.append(
                        ToolRequest(
                            self.command,
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    stub._lock.notify_all()
                    reply = stub.routes.get(parts.path, ToolReply(status=404, body={"error": "?"}))
                if callable(reply.body):
                    reply = ToolReply(body=reply.body(stub.requests[-1]), status=reply.status)
                if reply.delay:
                    time.sleep(reply.delay)
                data = (reply.raw if reply.raw is not None else json.dumps(reply.body)).encode()
                try:
                    self.send_response(reply.status)
                    if reply.location:
                        self.send_header("Location", reply.location)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client closing its keep-alive connection is not news

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def route(self, path: str, reply: ToolReply | None = None, **kwargs) -> str:
        self.routes[path] = reply or ToolReply(**kwargs)
        return self.url(path)

    def calls(self, path: str) -> list[ToolRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, n: int = 1, timeout: float = 15.0) -> list[ToolRequest]:
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.calls_unlocked(path)) >= n, timeout):
                raise TimeoutError(f"{path}: expected {n} request(s)")
            return self.calls_unlocked(path)

    def calls_unlocked(self, path: str) -> list[ToolRequest]:
        return [r for r in self.requests if r.path == path]

    def reset(self) -> None:
        with self._lock:
            self.routes.clear()
            self.requests.clear()
