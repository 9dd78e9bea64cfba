"""In-memory fake of the Chatdesk widget API, for developing and testing ``widget.js``.

Standard library only. It implements the widget API contract (``/api/v1/widget/sessions/``,
conversations, messages, the ``text/event-stream`` events endpoint with ``Last-Event-ID``
resume, and - like the real backend - a replay of the last two minutes of events for a
stream opened without it), streams scripted replies as SSE ``delta`` events and serves
``chatbot/static/chatdesk/widget.js`` plus a host page (``index.html`` in this folder).

Two listeners share one state so the harness is cross-origin like a real embed:

* ``api_url``  - the API and ``/static/chatdesk/widget.js`` (the widget's origin);
* ``page_url`` - the host page, on another port (hence another origin), embedding the widget
  from ``api_url``. So CORS preflights (``Authorization``, ``Last-Event-ID``) really happen.

Run it by hand for manual development::

    .venv/bin/python tests/widget_harness/fake_api.py --port 8765
    # then open the printed page URL; query parameters of the page:
    #   key=wk_test lang=zh-Hans title=... open=true api_base=... user_id=... user_hash=...
    #   hostile=1 (adds hostile host-page CSS)

Reply scripting: a message containing ``xss``, ``fail`` or ``markdown`` gets a scripted
reply (see ``FakeApi.reply_for``); tests can also queue replies with ``FakeApi.queue_reply``.
Knobs for failure injection live on the ``FakeApi`` instance (``fail_next_posts`` ...).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import html
import itertools
import json
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
WIDGET_JS = REPO / "chatbot" / "static" / "chatdesk" / "widget.js"
INDEX_HTML = HERE / "index.html"

VALID_KEY = "wk_test"
IDENTITY_SECRET = b"harness-identity-secret"
MAX_CONTENT = 4000
MAX_BODY = 64 * 1024

# 1x1 transparent PNG (served for /track.png so a leak would be observable but harmless).
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)

POLITE_FAILURE = (
    "Sorry, I can't answer that right now. A member of our team will follow up shortly."
)

MARKDOWN_REPLY = """Here is how to **reset your password**:

1. Open *Settings* → **Security**.
2. Click `Reset password`.
3. Check your inbox for the confirmation link.

Useful commands:

```bash
npx northwind reset-password
```

- Docs: [Help center](https://help.example.com/reset)
- Status page: https://status.example.com

Anything else I can help with?"""


def user_hash_for(user_id: str) -> str:
    """The identity-verification hash the fake expects for ``user_id`` (HMAC-SHA256 hex)."""
    return hmac.new(IDENTITY_SECRET, user_id.encode(), hashlib.sha256).hexdigest()


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def split_chunks(text: str, words_per_chunk: int = 2) -> list[str]:
    """Split ``text`` into chunks of a few words, whitespace kept, so ``"".join`` is lossless."""
    tokens = re.findall(r"\s*\S+\s*", text) or [text]
    return [
        "".join(tokens[i : i + words_per_chunk]) for i in range(0, len(tokens), words_per_chunk)
    ]


@dataclass
class Reply:
    text: str
    status: str = "completed"  # or "failed"
    chunks: list[str] | None = None
    # streamed first, then a `status: retrying` event, then ``text`` (a retried generation)
    abandoned: str | None = None


@dataclass
class Conversation:
    id: str
    customer_id: str
    created_at: str
    status: str = "open"
    title: str = ""
    updated_at: str = ""
    last_message_at: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[int, str, str, float]] = field(default_factory=list)
    by_cmid: dict[str, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "status": self.status,
            "created_at": self.created_at,
            "updated_at": self.updated_at or self.created_at,
            "last_message_at": self.last_message_at,
        }


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any
    origin_port: int


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, handler, api: FakeApi, role: str):
        self.api = api
        self.role = role
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class FakeApi:
    """The shared in-memory state plus the two HTTP listeners."""

    def __init__(self, host: str = "127.0.0.1", api_port: int = 0, page_port: int = 0):
        self.host = host
        self._api_server = _Server((host, api_port), _Handler, self, "api")
        self._page_server = _Server((host, page_port), _Handler, self, "page")
        self._threads: list[threading.Thread] = []
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self.stopping = threading.Event()
        self.reset()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def api_port(self) -> int:
        return self._api_server.server_address[1]

    @property
    def page_port(self) -> int:
        return self._page_server.server_address[1]

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    def page_url(self, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"http://{self.host}:{self.page_port}/" + (f"?{query}" if query else "")

    def start(self) -> FakeApi:
        for srv in (self._api_server, self._page_server):
            t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1})
            t.daemon = True
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self._lock:
            convs = list(self.conversations.values())
        for conv in convs:
            with conv.cond:
                conv.cond.notify_all()
        for srv in (self._api_server, self._page_server):
            srv.shutdown()
            srv.server_close()

    def __enter__(self) -> FakeApi:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all sessions/conversations/requests and restore default knobs."""
        with self._lock:
            old = list(getattr(self, "conversations", {}).values())
            self.sessions: dict[str, dict[str, Any]] = {}
            self.conversations: dict[str, Conversation] = {}
            self.requests: list[RecordedRequest] = []
            self.replies: list[Reply] = []
            self.allowed_origins: set[str] | None = None  # None: any origin
            self.session_error: tuple[int, str] | None = None
            self.fail_next_posts = 0  # answer 503 to the next N message POSTs
            self.drop_next_posts = 0  # close the connection without an answer (network error)
            self.rate_limit_next_posts = 0
            # answer the next message POSTs with these errors: (status, code, message, fields)
            self.reject_next_posts: list[tuple[int, str, str, dict | None]] = []
            self.max_message_chars: int | None = MAX_CONTENT  # None: not in the session answer
            self.drop_stream_after_deltas = 0  # cut the SSE stream once after N delta frames
            self.dropped_after_event_id: str | None = None
            self.first_delta_delay = 0.15
            self.delta_delay = 0.03
            self.heartbeat = 0.5
            self.replay_seconds = 120.0  # a stream opened without Last-Event-ID replays this
        for conv in old:  # wake and end streams of the previous test
            with conv.cond:
                conv.cond.notify_all()

    # -- helpers for tests -------------------------------------------------------------------

    def queue_reply(
        self,
        text: str,
        status: str = "completed",
        chunks: list[str] | None = None,
        abandoned: str | None = None,
    ):
        with self._lock:
            self.replies.append(Reply(text, status, chunks, abandoned))

    def revoke_all_tokens(self) -> None:
        with self._lock:
            self.sessions.clear()

    def requests_to(self, path_regex: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            reqs = list(self.requests)
        return [
            r
            for r in reqs
            if re.search(path_regex, r.path) and (method is None or r.method == method)
        ]

    def reply_for(self, content: str) -> Reply:
        with self._lock:
            if self.replies:
                return self.replies.pop(0)
        lowered = content.lower()
        if "xss" in lowered:
            return Reply(
                "Careful: <script>window.__pwned=1</script> and "
                '<img src=x onerror="window.__pwned=1"> and '
                "[click](javascript:window.__pwned=1) and "
                "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==) and "
                f"![i](http://127.0.0.1:{self.api_port}/track.png) and "
                '<iframe src="javascript:window.__pwned=1"></iframe> done.'
            )
        if "fail" in lowered:
            return Reply("Let me check that for you", status="failed")
        if "markdown" in lowered:
            return Reply(MARKDOWN_REPLY)
        return Reply(
            "Thanks for your message! This answer is streamed to you in several small pieces "
            "so you can watch it arrive."
        )

    # -- conversation events -----------------------------------------------------------------

    def emit(self, conv: Conversation, event: str, data: dict[str, Any]) -> int:
        with conv.cond:
            seq = next(self._seq)
            conv.events.append((seq, event, json.dumps(data, ensure_ascii=False), time.monotonic()))
            conv.cond.notify_all()
            return seq

    def generate(self, conv: Conversation, reply: dict[str, Any], script: Reply) -> None:
        time.sleep(self.first_delta_delay)
        reply["status"] = "streaming"
        self.emit(conv, "status", {"reply_id": reply["id"], "status": "streaming"})
        if script.abandoned:
            for chunk in split_chunks(script.abandoned):
                time.sleep(self.delta_delay)
                reply["content"] += chunk
                self.emit(conv, "delta", {"reply_id": reply["id"], "text": chunk})
            time.sleep(self.delta_delay)
            reply["content"] = ""
            self.emit(conv, "status", {"reply_id": reply["id"], "status": "retrying"})
        for chunk in script.chunks or split_chunks(script.text):
            if self.stopping.is_set():
                return
            time.sleep(self.delta_delay)
            reply["content"] += chunk
            self.emit(conv, "delta", {"reply_id": reply["id"], "text": chunk})
        time.sleep(self.delta_delay)
        if script.status == "failed":
            reply.update(status="failed", error_code="llm_unavailable", content=POLITE_FAILURE)
            self.emit(
                conv,
                "error",
                {"reply_id": reply["id"], "code": "llm_unavailable", "message": POLITE_FAILURE},
            )
        else:
            reply.update(status="completed", model="fake-model")
        reply["completed_at"] = now_iso()
        conv.last_message_at = conv.updated_at = reply["completed_at"]
        self.emit(conv, "message", dict(reply))


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection; SSE ends when we return

    def log_message(self, format, *args):  # quiet
        pass

    @property
    def api(self) -> FakeApi:
        return self.server.api

    # -- plumbing -------------------------------------------------------------------------

    def _cors(self) -> None:
        origin = self.headers.get("Origin")
        if origin:
            self.send_header("Access-Control-Allow-Origin", origin)
            self.send_header("Vary", "Origin")
            self.send_header("Access-Control-Expose-Headers", "Retry-After")

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self._cors()
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", extra)

    def _error(self, status: int, code: str, message: str, fields=None, extra=None) -> None:
        err: dict[str, Any] = {"code": code, "message": message}
        if fields:
            err["fields"] = fields
        self._json(status, {"error": err}, extra)

    def _record(self, body: Any) -> None:
        url = urlparse(self.path)
        rec = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            origin_port=self.server.server_address[1],
        )
        with self.api._lock:
            self.api.requests.append(rec)

    def _read_body(self) -> tuple[Any, bool]:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None, False
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None, True
        try:
            return json.loads(raw), True
        except ValueError:
            return ValueError, True

    def _customer(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return None
        with self.api._lock:
            session = self.api.sessions.get(auth[7:])
        return session["customer_id"] if session else None

    # -- verbs ------------------------------------------------------------------------------

    def do_OPTIONS(self):
        self._record(None)
        self.send_response(204)
        self._cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        self.send_header(
            "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID, Accept"
        )
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        url = urlparse(self.path)
        self._record(None)
        path = url.path
        if self.server.role == "page":
            if path in ("/", "/index.html"):
                return self._page(parse_qs(url.query), self.api.api_url)
            if path == "/favicon.ico":
                return self._send(204, b"", "image/x-icon")
            return self._error(404, "not_found", "Not found.")
        if path in ("/", "/index.html"):  # same-origin host page, handy for manual use
            return self._page(parse_qs(url.query), "")
        if path == "/static/chatdesk/widget.js":
            return self._send(200, WIDGET_JS.read_bytes(), "application/javascript; charset=utf-8")
        if path == "/track.png":
            return self._send(200, PIXEL, "image/png")
        if path == "/favicon.ico":
            return self._send(204, b"", "image/x-icon")
        return self._api("GET", path, parse_qs(url.query), None)

    def do_POST(self):
        url = urlparse(self.path)
        body, ok = self._read_body()
        self._record(body)
        if self.server.role == "page":
            return self._error(404, "not_found", "Not found.")
        if not ok:
            return self._error(413, "payload_too_large", "The request body is too large.")
        if body is ValueError:
            return self._error(400, "parse_error", "Malformed JSON.")
        return self._api("POST", url.path, parse_qs(url.query), body)

    # -- host page --------------------------------------------------------------------------

    def _page(self, q: dict[str, list[str]], api_origin: str) -> None:
        one = {k: v[0] for k, v in q.items()}
        attrs = {"data-widget-key": one.get("key", VALID_KEY)}
        for name in ("lang", "title", "open", "api_base", "user_id", "user_hash"):
            if name in one:
                attrs["data-" + name.replace("_", "-")] = one[name]
        attr_html = " ".join(f'{k}="{html.escape(v)}"' for k, v in attrs.items())
        script = f'<script src="{api_origin}/static/chatdesk/widget.js" {attr_html} async></script>'
        hostile = ""
        if one.get("hostile"):
            hostile = (
                "<style>\n"
                "* { color: red !important; font-size: 40px !important;"
                ' font-family: "Comic Sans MS", cursive !important; line-height: 3 !important;'
                " box-sizing: content-box !important; letter-spacing: 4px !important; }\n"
                "button { display: none !important; }\n"
                "textarea { display: none !important; }\n"
                "div { padding: 40px !important; margin: 20px !important;"
                " background: yellow !important; }\n"
                "body > * { position: absolute !important; top: -9999px !important; }\n"
                "svg, path { fill: red !important; stroke: lime !important; }\n"
                ":root { --cd-accent: red; --cd-bg: black; }\n"
                "[role=dialog] { display: none !important; }\n"
                "</style>"
            )
        page = INDEX_HTML.read_text(encoding="utf-8")
        page = page.replace("{{HOSTILE_CSS}}", hostile).replace("{{WIDGET_SCRIPT}}", script)
        self._send(200, page.encode(), "text/html; charset=utf-8")

    # -- API ----------------------------------------------------------------------------------

    def _api(self, method: str, path: str, q: dict[str, list[str]], body: Any) -> None:
        api = self.api
        if not path.startswith("/api/v1/"):
            return self._error(404, "not_found", "Not found.")
        route = path[len("/api/v1") :]

        if route == "/widget/sessions/" and method == "POST":
            return self._create_session(body if isinstance(body, dict) else {})

        customer = self._customer()
        if customer is None:
            return self._error(401, "not_authenticated", "Authentication credentials are missing.")

        if route == "/conversations/" and method == "POST":
            ts = now_iso()
            conv = Conversation(id=str(uuid.uuid4()), customer_id=customer, created_at=ts)
            with api._lock:
                api.conversations[conv.id] = conv
            return self._json(201, conv.public())

        m = re.fullmatch(r"/conversations/([^/]+)/(|messages/|events/|tool-calls/)", route)
        if not m:
            return self._error(404, "not_found", "Not found.")
        with api._lock:
            conv = api.conversations.get(m.group(1))
        if conv is None or conv.customer_id != customer:
            return self._error(404, "not_found", "Conversation not found.")
        sub = m.group(2)
        if sub == "" and method == "GET":
            return self._json(200, conv.public())
        if sub == "messages/" and method == "GET":
            return self._list_messages(conv, q)
        if sub == "messages/" and method == "POST":
            return self._post_message(conv, body if isinstance(body, dict) else {})
        if sub == "events/" and method == "GET":
            return self._events(conv)
        if sub == "tool-calls/" and method == "GET":  # no tools here: nothing awaits an answer
            return self._json(200, {"results": []})
        return self._error(405, "method_not_allowed", "Method not allowed.")

    def _create_session(self, body: dict[str, Any]) -> None:
        api = self.api
        if api.session_error:
            status, code = api.session_error
            return self._error(status, code, "Session creation failed.")
        origin = self.headers.get("Origin", "")
        if api.allowed_origins is not None and origin not in api.allowed_origins:
            return self._error(403, "origin_not_allowed", "This website may not use the widget.")
        if body.get("widget_key") != VALID_KEY:
            return self._error(404, "widget_key_invalid", "Unknown widget key.")
        user_id = body.get("user_id")
        if user_id is not None:
            if not hmac.compare_digest(str(body.get("user_hash", "")), user_hash_for(user_id)):
                return self._error(403, "identity_invalid", "Identity verification failed.")
            customer_id = str(uuid.uuid5(uuid.NAMESPACE_URL, "user:" + str(user_id)))
        else:
            customer_id = str(uuid.uuid4())
        token = "tok_" + uuid.uuid4().hex
        visitor_id = str(uuid.uuid4())
        with api._lock:
            api.sessions[token] = {"customer_id": customer_id, "visitor_id": visitor_id}
        answer: dict[str, Any] = {
            "token": token,
            "visitor_id": visitor_id,
            "customer": {"id": customer_id, "identified": user_id is not None},
        }
        if api.max_message_chars is not None:
            answer["max_message_chars"] = api.max_message_chars
        return self._json(201, answer)

    def _list_messages(self, conv: Conversation, q: dict[str, list[str]]) -> None:
        try:
            limit = max(1, min(100, int(q.get("limit", ["100"])[0])))
        except ValueError:
            return self._error(400, "validation_error", "Invalid limit.", {"limit": ["Invalid."]})
        after = q.get("after", [None])[0]
        with conv.cond:
            msgs = [dict(m) for m in conv.messages]
        start = 0
        if after:
            ids = [m["id"] for m in msgs]
            if after not in ids:
                return self._error(
                    400, "validation_error", "Unknown message id.", {"after": ["Unknown."]}
                )
            start = ids.index(after) + 1
        page = msgs[start : start + limit]
        return self._json(200, {"results": page, "has_more": start + limit < len(msgs)})

    def _post_message(self, conv: Conversation, body: dict[str, Any]) -> None:
        api = self.api
        with api._lock:
            if api.drop_next_posts:
                api.drop_next_posts -= 1
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return None
            if api.fail_next_posts:
                api.fail_next_posts -= 1
                return self._error(503, "service_unavailable", "Temporarily unavailable.")
            if api.rate_limit_next_posts:
                api.rate_limit_next_posts -= 1
                return self._error(
                    429, "rate_limited", "Too many messages.", extra={"Retry-After": "1"}
                )
            if api.reject_next_posts:
                status, code, message, fields = api.reject_next_posts.pop(0)
                return self._error(status, code, message, fields)
        content = body.get("content")
        cmid = body.get("client_message_id")
        fields: dict[str, list[str]] = {}
        if not isinstance(content, str) or not content.strip():
            fields["content"] = ["This field may not be blank."]
        elif len(content) > (limit := api.max_message_chars or MAX_CONTENT):
            fields["content"] = [f"Ensure this field has no more than {limit} characters."]
        try:
            uuid.UUID(str(cmid))
        except ValueError:
            fields["client_message_id"] = ["Must be a valid UUID."]
        if fields:
            return self._error(400, "validation_error", "Invalid input.", fields)
        if conv.status == "closed":
            return self._error(409, "conversation_closed", "This conversation is closed.")
        with conv.cond:
            if cmid in conv.by_cmid:  # idempotent retry: same answer, no second reply
                user, reply = conv.by_cmid[cmid]
                return self._json(202, {"message": dict(user), "reply": dict(reply)})
            ts = now_iso()
            user = {
                "id": str(uuid.uuid4()),
                "conversation": conv.id,
                "role": "user",
                "content": content,
                "status": "completed",
                "reply_to": None,
                "model": None,
                "error_code": None,
                "created_at": ts,
                "completed_at": ts,
            }
            reply = {
                "id": str(uuid.uuid4()),
                "conversation": conv.id,
                "role": "assistant",
                "content": "",
                "status": "pending",
                "reply_to": user["id"],
                "model": None,
                "error_code": None,
                "created_at": ts,
                "completed_at": None,
            }
            conv.messages += [user, reply]
            conv.by_cmid[cmid] = (user, reply)
            conv.last_message_at = conv.updated_at = ts
            if not conv.title:
                conv.title = content[:60]
            answer = {"message": dict(user), "reply": dict(reply)}
        script = api.reply_for(content)
        threading.Thread(target=api.generate, args=(conv, reply, script), daemon=True).start()
        return self._json(202, answer)

    def _events(self, conv: Conversation) -> None:
        api = self.api
        last = self.headers.get("Last-Event-ID")
        with conv.cond:
            if last and last.isdigit():
                idx = next(
                    (i for i, ev in enumerate(conv.events) if ev[0] > int(last)), len(conv.events)
                )
            else:  # like the real backend: replay the recent past (SSE_REPLAY_SECONDS)
                since = time.monotonic() - api.replay_seconds
                idx = next(
                    (i for i, ev in enumerate(conv.events) if ev[3] >= since), len(conv.events)
                )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self._cors()
        self.end_headers()
        deltas = 0
        try:
            self.wfile.write(b": connected\n\n")
            while not api.stopping.is_set():
                with conv.cond:
                    if idx >= len(conv.events):
                        conv.cond.wait(timeout=api.heartbeat)
                    batch = conv.events[idx:]
                    idx += len(batch)
                    if conv is not api.conversations.get(conv.id):
                        return  # state was reset
                if not batch:
                    self.wfile.write(b": ping\n\n")
                    continue
                for seq, event, data, _ in batch:
                    self.wfile.write(f"id: {seq}\nevent: {event}\ndata: {data}\n\n".encode())
                    if event != "delta":
                        continue
                    deltas += 1
                    with api._lock:
                        drop = (
                            api.drop_stream_after_deltas and deltas >= api.drop_stream_after_deltas
                        )
                        if drop:
                            api.drop_stream_after_deltas = 0
                            api.dropped_after_event_id = str(seq)
                    if drop:
                        # Cut the connection in the middle of a (bogus) frame: a correct client
                        # discards the unterminated event and resumes from the last full one.
                        self.wfile.write(
                            b'id: 999999\nevent: delta\ndata: {"reply_id": "x", "text": "GARB'
                        )
                        self.close_connection = True
                        return
        except (BrokenPipeError, ConnectionResetError, OSError):
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="API port (page: port + 1)")
    args = parser.parse_args()
    api = FakeApi(args.host, args.port, args.port + 1).start()
    print(f"API + widget.js: {api.api_url}/static/chatdesk/widget.js")
    print(f"Host page (cross-origin): {api.page_url()}")
    print(f"Host page (same origin):  {api.api_url}/")
    print(f"user_hash for user_id=alice: {user_hash_for('alice')}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        api.stop()


if __name__ == "__main__":
    main()
