"""A real, scriptable, OpenAI-compatible HTTP server for tests and benchmarks.

The server speaks the OpenAI wire format over plain HTTP/1.1 on loopback, so it can be
driven by the real ``openai`` SDK from the test process *and* from other processes (for
example a Celery worker) while the test process scripts what it answers.

Standard library only: ``http.server.ThreadingHTTPServer`` serving each connection on a
daemon thread (idle threads are reused: see ``_WorkerPool``), HTTP/1.1 keep-alive,
``TCP_NODELAY`` on every accepted socket and one ``sendall`` per SSE chunk, so streamed
chunks reach the client as soon as they are written.  Streams use chunked transfer
encoding, like the real API, so a dropped stream is a protocol error for the client rather
than a silent end.  Chunks are paced on an absolute schedule from request receipt (no
drift); the server's own overhead is ~0.2 ms per request on loopback.

Every chat request without a matching script entry gets :attr:`StubLLMServer.default`,
which echoes the last user message (``"Echo: <message>"``).  ``reset()`` (call it between
tests) clears the script and the recorded requests and cuts off responses still in flight.
Run standalone with ``python -m tests.stub_llm`` (see ``__main__.py``).

Quick start::

    with StubLLMServer() as stub:
        stub.script(Reply(text="Hello there", chunks=5, ttft=0.05))
        client = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
        ...
        assert stub.requests[0].api_key == "test"
"""

from __future__ import annotations

import contextlib
import hashlib
import http
import json
import math
import queue
import re
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import BaseServer, TCPServer
from typing import Any, Literal, Self

__all__ = [
    "Action",
    "ChatAction",
    "CutStream",
    "Echo",
    "Endpoint",
    "Error",
    "Hang",
    "MalformedJSON",
    "Moderation",
    "RecordedRequest",
    "Reply",
    "Reset",
    "ScriptEntry",
    "StubLLMServer",
    "ToolCall",
    "ToolCalls",
    "estimate_tokens",
    "split_text",
]

Endpoint = Literal["chat", "moderations", "models", "embeddings"]
"""The scriptable endpoints: ``/v1/chat/completions``, ``/v1/moderations``, ``/v1/models``,
``/v1/embeddings``."""

STUB_MODEL = "stub-model"
DEFAULT_MODERATION_MODEL = "omni-moderation-latest"

# --------------------------------------------------------------------------------------
# Script actions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """A successful chat completion.

    ``text`` is split into ``chunks`` stream chunks (word boundaries where possible).
    ``ttft`` is the delay (seconds, from request receipt) before the first content chunk;
    ``chunk_delay`` is the delay between consecutive chunks.  A non-streaming request is
    answered after ``ttft + chunk_delay * (chunks - 1)``, i.e. the same total generation
    time.  Token counts default to an estimate (``ceil(chars / 4)``, min 1).  ``model``
    overrides the model echoed in the response (default: the requested model).
    """

    text: str = "Hello from the stub LLM."
    chunks: int = 4
    ttft: float = 0.0
    chunk_delay: float = 0.0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    model: str | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class ToolCall:
    """One function call the model makes (see :class:`ToolCalls`).

    ``arguments`` is sent verbatim when a string (so tests can send invalid JSON), or
    JSON-encoded when a dict.  ``id`` defaults to a fresh ``call_...`` id.
    """

    name: str
    arguments: str | Mapping[str, Any] = "{}"
    id: str | None = None

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(dict(self.arguments), separators=(",", ":"))


@dataclass(frozen=True)
class ToolCalls:
    """The model calls tools instead of (or after a little) text, as the OpenAI API does.

    Streamed: optional ``text`` content chunks first; then, per call (``index`` 0, 1, ...),
    one chunk with ``id``, ``type`` and ``function.name`` and empty ``arguments``, followed
    by the arguments split over ``argument_chunks`` chunks carrying only ``index`` and
    ``function.arguments``; then an empty delta with ``finish_reason`` ``"tool_calls"``.
    Non-streaming: ``message.tool_calls`` with ``content`` null (or ``text``).
    """

    calls: tuple[ToolCall, ...]
    text: str = ""
    argument_chunks: int = 3
    ttft: float = 0.0
    chunk_delay: float = 0.0
    model: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.calls, ToolCall):
            object.__setattr__(self, "calls", (self.calls,))
        else:
            object.__setattr__(self, "calls", tuple(self.calls))
        ids = [c.id or _new_id("call") for c in self.calls]
        object.__setattr__(self, "_ids", tuple(ids))

    @property
    def call_ids(self) -> tuple[str, ...]:
        """The ids sent for each call (fixed when the action is created)."""
        return self._ids  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Embeddings:
    """A ``/v1/embeddings`` answer (the default for that endpoint): one vector per input.

    Deterministic and a little semantic: the input's words (and Chinese character pairs)
    hashed into ``dimensions`` buckets, so texts sharing words are near each other. With
    ``synonyms`` ({"parcel": "delivery"}) a word counts as another, which is what lets a
    test prove that the vector ranking finds what the words alone do not."""

    dimensions: int = 64
    synonyms: tuple[tuple[str, str], ...] = ()

    def vector(self, text: str) -> list[float]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        han = re.findall(r"[\u4e00-\u9fff]+", text)
        words += [run[i : i + 2] for run in han for i in range(max(1, len(run) - 1))]
        mapped = dict(self.synonyms)
        vector = [0.0] * self.dimensions
        for word in words:
            word = mapped.get(word, word)
            digest = hashlib.sha256(word.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % self.dimensions] += 1.0
        return vector


@dataclass(frozen=True)
class Echo:
    """Reply with ``prefix + <last user message>`` (the default for unmatched chat requests)."""

    prefix: str = "Echo: "
    chunks: int = 4
    ttft: float = 0.0
    chunk_delay: float = 0.0

    def to_reply(self, last_user_message: str) -> Reply:
        """The concrete :class:`Reply` for a request whose last user message is given."""
        return Reply(
            text=f"{self.prefix}{last_user_message}",
            chunks=self.chunks,
            ttft=self.ttft,
            chunk_delay=self.chunk_delay,
        )


@dataclass(frozen=True)
class Error:
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

    ``retry_after`` sets ``Retry-After`` (seconds; a string is sent verbatim, e.g. an
    HTTP date), ``retry_after_ms`` sets ``retry-after-ms`` (the SDK prefers it),
    ``should_retry`` sets ``x-should-retry`` (the SDK obeys it over the status code).
    ``type``/``code``/``message`` default to something realistic for the status.
    ``delay`` waits before answering.  Usable on every endpoint (see ``script(endpoint=)``).
    """

    status: int = 500
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Accept the request and send nothing for ``seconds``, then close the connection.

    Ends early (closing the connection without a response) on ``stop()`` or ``reset()``.
    """

    seconds: float = 30.0


@dataclass(frozen=True)
class Reset:
    """Abort the TCP connection (``SO_LINGER`` 0 → RST) without any response."""

    delay: float = 0.0


@dataclass(frozen=True)
class CutStream:
    """Start a normal 200 response, then drop the connection part-way.

    ``text`` is split into ``chunks`` pieces (default ``after_chunks + 1``) and only the
    first ``after_chunks`` pieces are sent; no ``finish_reason`` chunk, no ``[DONE]`` and no
    terminating HTTP chunk follow.  For a non-streaming request a truncated JSON body is
    sent (``Content-Length`` promises more).  The connection is closed with FIN, or with
    RST when ``rst=True`` (beware: an RST may make the client lose unread data).
    """

    text: str = "partial answer that is cut"
    after_chunks: int = 2
    chunks: int | None = None
    ttft: float = 0.0
    chunk_delay: float = 0.0
    rst: bool = False


@dataclass(frozen=True)
class MalformedJSON:
    """Answer 200 with a body that is not valid JSON.

    Non-streaming: ``Content-Type: application/json`` with ``body``.  Streaming: a
    ``data: <body>`` SSE event, then ``data: [DONE]`` and a clean end of the stream.
    """

    body: str = '{"id": "chatcmpl-stub", "object": "chat.completion", "choices": [{'
    status: int = 200


@dataclass(frozen=True)
class Moderation:
    """A ``/v1/moderations`` result (one per input).

    ``categories`` / ``scores`` may use wire names (``"self-harm/intent"``) or Python-style
    names (``"self_harm_intent"``).  The result is flagged if ``flagged`` or any category is
    true.  Unset scores are 0.9 for true categories and 0.0001 otherwise.
    """

    flagged: bool = False
    categories: Mapping[str, bool] = field(default_factory=dict)
    scores: Mapping[str, float] = field(default_factory=dict)
    model: str | None = None


ChatAction = Reply | ToolCalls | Echo | Error | Hang | Reset | CutStream | MalformedJSON
"""Actions usable for ``/v1/chat/completions``."""
Action = ChatAction | Moderation | Embeddings
"""Anything that can be scripted."""

_GENERIC_ACTIONS = (Error, Hang, Reset, MalformedJSON)
_CHAT_ONLY_ACTIONS = (Reply, ToolCalls, Echo, CutStream)

# --------------------------------------------------------------------------------------
# Script entries and recorded requests
# --------------------------------------------------------------------------------------


@dataclass
class ScriptEntry:
    """One queued script entry; ``remaining`` counts down from ``times``."""

    action: Action
    endpoint: Endpoint
    model: str | None = None
    when_contains: str | None = None
    remaining: int = 1

    def matches(self, endpoint: Endpoint, model: str | None, text: str) -> bool:
        """Whether a request to ``endpoint`` for ``model`` with match text ``text`` fits."""
        if endpoint != self.endpoint:
            return False
        if self.model is not None and self.model != model:
            return False
        return self.when_contains is None or self.when_contains in text


@dataclass
class RecordedRequest:
    """A request the stub received (recorded before it is answered).

    ``headers`` has lower-cased names; ``client_address`` is the peer ``(host, port)`` (the
    same port on two requests means the client reused a keep-alive connection).  ``body`` is
    the parsed JSON object (``None`` if the body was empty or invalid).  ``outcome`` says how
    it was answered: ``"reply"``, ``"echo"``, ``"error"``, ``"hang"``, ``"reset"``,
    ``"cut_stream"``, ``"malformed_json"``, ``"moderation"``, ``"models"``,
    ``"unauthorized"``, ``"not_found"`` or ``"bad_request"``; ``status`` is the HTTP status
    sent (``None`` if no response was sent).  ``scripted`` is true if a script entry (not a
    default) was used.
    ``finished_at`` (``time.monotonic()``) is set once the server has finished writing or
    dropped the connection; ``client_disconnected`` is set if a write failed because the
    client went away (best effort: detected on the next write after the disconnect).
    """

    method: str
    path: str
    query: str
    headers: dict[str, str]
    client_address: tuple[str, int]
    raw_body: bytes
    body: dict[str, Any] | None
    received_at: float
    model: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    stream: bool = False
    outcome: str = ""
    status: int | None = None
    action: Action | None = None
    scripted: bool = False
    finished_at: float | None = None
    client_disconnected: bool = False
    _done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def wait_finished(self, timeout: float | None = 10.0) -> bool:
        """Block until the server is done with this request (response written or dropped)."""
        return self._done.wait(timeout)

    @property
    def api_key(self) -> str | None:
        """The bearer token from ``Authorization`` (``None`` if absent)."""
        auth = self.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return token.strip() or None

    @property
    def last_user_message(self) -> str:
        """Text of the last ``role == "user"`` message ("" if none)."""
        return _last_user_message(self.messages)

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The ``tools`` offered to the model ([] if none)."""
        tools = (self.body or {}).get("tools")
        return tools if isinstance(tools, list) else []

    @property
    def tool_names(self) -> list[str]:
        return [t.get("function", {}).get("name", "") for t in self.tools if isinstance(t, dict)]

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The ``role == "tool"`` messages sent back (results of earlier calls)."""
        return [m for m in self.messages if isinstance(m, dict) and m.get("role") == "tool"]

    @property
    def include_usage(self) -> bool:
        """Whether ``stream_options.include_usage`` was requested."""
        options = (self.body or {}).get("stream_options") or {}
        return isinstance(options, dict) and bool(options.get("include_usage"))


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def estimate_tokens(text: str) -> int:
    """Rough token estimate: ``ceil(len(text) / 4)``, at least 1."""
    return max(1, math.ceil(len(text) / 4))


_WORD_RE = re.compile(r"\s*\S+")


def split_text(text: str, n: int) -> list[str]:
    """Split ``text`` into ``n`` non-empty pieces that concatenate back to ``text``.

    Splits on word boundaries (whitespace stays attached to the following word) when there
    are at least ``n`` words; otherwise the longest pieces are halved until there are ``n``.
    Returns fewer pieces only if ``text`` has fewer than ``n`` characters, and ``[""]`` for
    empty text.
    """
    if not text:
        return [""]
    n = max(1, min(n, len(text)))
    units = _WORD_RE.findall(text)
    consumed = sum(len(u) for u in units)
    if not units:
        units = [text]
    elif consumed < len(text):
        units[-1] += text[consumed:]  # trailing whitespace
    if len(units) >= n:
        q, r = divmod(len(units), n)
        pieces, i = [], 0
        for k in range(n):
            size = q + (1 if k < r else 0)
            pieces.append("".join(units[i : i + size]))
            i += size
        return pieces
    pieces = units
    while len(pieces) < n:
        idx = max(range(len(pieces)), key=lambda j: len(pieces[j]))
        longest = pieces[idx]
        mid = len(longest) // 2
        pieces[idx : idx + 1] = [longest[:mid], longest[mid:]]
    return pieces


def _content_text(content: Any) -> str:
    """Text of a message ``content`` (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "".join(parts)
    return ""


def _last_user_message(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    return ""


def _prompt_chars(messages: list[dict[str, Any]]) -> int:
    return sum(len(_content_text(m.get("content"))) for m in messages if isinstance(m, dict))


def _moderation_inputs(value: Any) -> list[str]:
    """The list of input texts of a moderation request."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            return list(value)
        # Multi-modal input: one result for the whole list.
        return [_content_text(value)]
    return [""]


MODERATION_CATEGORIES: tuple[str, ...] = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
_CATEGORY_ALIASES = {c.replace("/", "_").replace("-", "_"): c for c in MODERATION_CATEGORIES}


def _category_name(name: str) -> str:
    return _CATEGORY_ALIASES.get(name, name)


def _moderation_result(mod: Moderation) -> dict[str, Any]:
    categories = {c: False for c in MODERATION_CATEGORIES}
    categories.update({_category_name(k): bool(v) for k, v in mod.categories.items()})
    scores = {c: (0.9 if categories[c] else 0.0001) for c in categories}
    scores.update({_category_name(k): float(v) for k, v in mod.scores.items()})
    return {
        "flagged": bool(mod.flagged or any(categories.values())),
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": {c: ["text"] for c in categories},
    }


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    422: "invalid_request_error",
    429: "requests",
}
_ERROR_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}


def _error_body(
    status: int,
    message: str | None = None,
    type_: str | None = None,
    code: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    if message is None:
        try:
            message = http.HTTPStatus(status).phrase
        except ValueError:
            message = f"Error {status}"
    if type_ is None:
        type_ = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "api_error")
    if code is None:
        code = _ERROR_CODES.get(status)
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _format_seconds(value: float | str) -> str:
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _sse_frame(payload: bytes) -> bytes:
    """One HTTP/1.1 chunk containing one SSE event ``data: <payload>\\n\\n``."""
    data = b"data: " + payload + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


_LAST_CHUNK = b"0\r\n\r\n"


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def _outcome_name(action: Action) -> str:
    return {
        Reply: "reply",
        ToolCalls: "tool_calls",
        Echo: "echo",
        Error: "error",
        Hang: "hang",
        Reset: "reset",
        CutStream: "cut_stream",
        MalformedJSON: "malformed_json",
        Moderation: "moderation",
        Embeddings: "embeddings",
    }[type(action)]


class _ClientGone(Exception):
    """The client closed the connection while we were writing."""


class _Aborted(Exception):
    """``stop()``/``reset()`` interrupted a delayed response."""


# --------------------------------------------------------------------------------------
# HTTP server plumbing
# --------------------------------------------------------------------------------------


class _WorkerPool:
    """Daemon threads that serve one connection at a time and are reused when idle.

    Starting a thread per connection costs ~0.5 ms and has multi-ms tails under the GIL;
    handing the connection to an idle thread costs ~20 us.  The pool grows without bound,
    so idle keep-alive connections (each parked in a thread) can never starve new ones.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0
        self._closed = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle > 0:
                self._idle -= 1
                self._jobs.put(job)  # an idle worker is committed to take it
                return
        threading.Thread(target=self._work, args=(job,), name=self._name, daemon=True).start()

    def _work(self, job: Callable[[], None] | None) -> None:
        while job is not None:
            job()
            with self._lock:
                if self._closed:
                    return
                self._idle += 1
            job = self._jobs.get()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, 0
        for _ in range(idle):
            self._jobs.put(None)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the default (5) drops SYNs under 20+ concurrent connects

    def __init__(self, address: tuple[str, int], stub: StubLLMServer) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.stub = stub
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.pool = _WorkerPool(f"stub-llm-conn:{self.server_address[1]}")

    def process_request(self, request: Any, client_address: Any) -> None:
        # Like ThreadingMixIn, but on reusable daemon threads (see _WorkerPool).
        self.pool.submit(lambda: self.process_request_thread(request, client_address))

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), which can stall on DNS.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.stub.verbose:
            BaseServer.handle_error(self, request, client_address)

    def close_all_connections(self) -> None:
        with self.connections_lock:
            conns = list(self.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "StubLLM/1.0"
    disable_nagle_algorithm = True  # TCP_NODELAY: every sendall leaves immediately
    server: _HTTPServer

    # -- connection lifecycle ----------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.stub.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- low-level writing -------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        try:
            self.connection.sendall(data)
        except OSError as exc:
            raise _ClientGone from exc

    def _head(self, status: int, headers: Mapping[str, str]) -> bytes:
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if self.close_connection:
            lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        extra: Mapping[str, str] | None = None,
    ) -> None:
        headers = {
            "Content-Type": content_type,
            "Content-Length": str(len(body)),
            "x-request-id": _new_id("req"),
            **(extra or {}),
        }
        self._rec.status = status  # before sending: the client may look right after
        self._send(self._head(status, headers) + body)

    def _send_json(self, status: int, obj: Any, extra: Mapping[str, str] | None = None) -> None:
        self._send_body(status, _json_bytes(obj), extra=extra)

    def _send_error(self, status: int, message: str, code: str | None = None) -> None:
        self._send_json(status, _error_body(status, message, code=code))

    def _drop(self, rst: bool = False) -> None:
        """Close the connection without (finishing) a response."""
        self.close_connection = True
        conn = self.connection
        try:
            if rst:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # rfile holds a reference to the socket; close it so close() is real.
                self.rfile.close()
                conn.close()
            else:
                conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _wait_until(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining > 0 and self._abort.wait(remaining):
            raise _Aborted
        if self._abort.is_set():
            raise _Aborted

    # -- request handling --------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        stub = self.server.stub
        raw = self._read_body()
        received_at = time.monotonic()
        path, _, query = self.path.partition("?")
        body: dict[str, Any] | None = None
        parse_error = False
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parse_error = True
            else:
                if isinstance(parsed, dict):
                    body = parsed
                else:
                    parse_error = True
        rec = RecordedRequest(
            method=self.command,
            path=path,
            query=query,
            headers={k.lower(): v for k, v in self.headers.items()},
            client_address=(str(self.client_address[0]), int(self.client_address[1])),
            raw_body=raw,
            body=body,
            received_at=received_at,
        )
        if body is not None:
            model = body.get("model")
            rec.model = model if isinstance(model, str) else None
            messages = body.get("messages")
            rec.messages = messages if isinstance(messages, list) else []
            rec.stream = bool(body.get("stream"))
        self._rec = rec

        endpoint: Endpoint | None = {
            ("POST", "/v1/chat/completions"): "chat",
            ("POST", "/v1/moderations"): "moderations",
            ("GET", "/v1/models"): "models",
            ("POST", "/v1/embeddings"): "embeddings",
        }.get((self.command, path.rstrip("/")))

        problem: tuple[str, int, str] | None = None
        if rec.api_key is None:
            problem = (
                "unauthorized",
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        elif endpoint is None:
            problem = ("not_found", 404, f"Invalid URL ({self.command} {path})")
        elif endpoint != "models" and (parse_error or body is None):
            problem = (
                "bad_request",
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means "
                "you aren't using your HTTP library correctly.)",
            )
        elif endpoint == "chat" and (
            rec.model is None or not isinstance(body.get("messages"), list)
        ):
            problem = ("bad_request", 400, "Missing required parameter: 'model' or 'messages'.")
        elif endpoint in ("moderations", "embeddings") and "input" not in (body or {}):
            problem = ("bad_request", 400, "Missing required parameter: 'input'.")

        if problem is not None:
            self._abort = stub._record(rec, None, problem[0])
            action: Action | None = None
        else:
            assert endpoint is not None
            if endpoint in ("moderations", "embeddings"):
                match_text = "\n".join(_moderation_inputs((body or {}).get("input")))
            else:
                match_text = rec.last_user_message
            action, self._abort = stub._select_and_record(rec, endpoint, match_text)

        try:
            if problem is not None:
                _, status, message = problem
                self._send_error(status, message)
            elif action is None:
                self._send_models()
            else:
                self._perform(action, body or {})
        except _ClientGone:
            rec.client_disconnected = True
            self.close_connection = True
        except _Aborted:
            self._drop()
        finally:
            rec.finished_at = time.monotonic()
            rec._done.set()

    # -- actions -----------------------------------------------------------------------

    def _perform(self, action: Action, body: dict[str, Any]) -> None:
        rec = self._rec
        if isinstance(action, Echo):
            action = action.to_reply(rec.last_user_message)
        if isinstance(action, Reply):
            if rec.stream:
                self._stream_reply(action)
            else:
                self._full_reply(action)
        elif isinstance(action, ToolCalls):
            if rec.stream:
                self._stream_tool_calls(action)
            else:
                self._full_tool_calls(action)
        elif isinstance(action, Error):
            self._perform_error(action)
        elif isinstance(action, Hang):
            self._wait_until(rec.received_at + action.seconds)
            self._drop()
        elif isinstance(action, Reset):
            self._wait_until(rec.received_at + action.delay)
            self._drop(rst=True)
        elif isinstance(action, CutStream):
            self._cut_stream(action)
        elif isinstance(action, MalformedJSON):
            self._malformed(action)
        elif isinstance(action, Moderation):
            self._moderation(action, body)
        elif isinstance(action, Embeddings):
            self._embeddings(action, body)

    def _embeddings(self, action: Embeddings, body: dict[str, Any]) -> None:
        inputs = _moderation_inputs(body.get("input"))
        self._send_json(
            200,
            {
                "object": "list",
                "model": self._rec.model or "stub-embedding",
                "data": [
                    {"object": "embedding", "index": i, "embedding": action.vector(text)}
                    for i, text in enumerate(inputs)
                ],
                "usage": {
                    "prompt_tokens": sum(estimate_tokens(t) for t in inputs),
                    "total_tokens": sum(estimate_tokens(t) for t in inputs),
                },
            },
        )

    def _usage(self, reply: Reply, text: str) -> dict[str, int]:
        prompt = reply.prompt_tokens
        if prompt is None:
            prompt = max(1, math.ceil(_prompt_chars(self._rec.messages) / 4))
        completion = reply.completion_tokens
        if completion is None:
            completion = estimate_tokens(text)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _full_reply(self, reply: Reply) -> None:
        rec = self._rec
        n = len(split_text(reply.text, reply.chunks))
        self._wait_until(rec.received_at + reply.ttft + reply.chunk_delay * (n - 1))
        self._send_json(200, self._completion_obj(reply))

    def _completion_obj(self, reply: Reply) -> dict[str, Any]:
        return {
            "id": _new_id("chatcmpl"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": reply.model or self._rec.model or STUB_MODEL,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": self._usage(reply, reply.text),
        }

    def _start_stream(self) -> None:
        headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            "x-request-id": _new_id("req"),
        }
        self._rec.status = 200
        self._send(self._head(200, headers))

    def _chunk(
        self,
        cid: str,
        model: str,
        delta: dict[str, Any],
        finish_reason: str | None = None,
        with_usage_field: bool = False,
    ) -> bytes:
        obj: dict[str, Any] = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if with_usage_field:
            obj["usage"] = None
        return _sse_frame(_json_bytes(obj))

    def _send_pieces(
        self, pieces: list[str], ttft: float, chunk_delay: float, cid: str, model: str
    ) -> None:
        rec = self._rec
        usage_field = rec.include_usage
        for i, piece in enumerate(pieces):
            self._wait_until(rec.received_at + ttft + i * chunk_delay)
            delta: dict[str, Any] = {"content": piece}
            if i == 0:
                delta = {"role": "assistant", "content": piece, "refusal": None}
            self._send(self._chunk(cid, model, delta, with_usage_field=usage_field))

    def _stream_reply(self, reply: Reply) -> None:
        rec = self._rec
        cid = _new_id("chatcmpl")
        model = reply.model or rec.model or STUB_MODEL
        self._start_stream()
        self._send_pieces(
            split_text(reply.text, reply.chunks), reply.ttft, reply.chunk_delay, cid, model
        )
        tail = self._chunk(cid, model, {}, reply.finish_reason, with_usage_field=rec.include_usage)
        if rec.include_usage:
            usage_obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": self._usage(reply, reply.text),
            }
            tail += _sse_frame(_json_bytes(usage_obj))
        self._send(tail + _sse_frame(b"[DONE]") + _LAST_CHUNK)

    def _tool_calls_usage(self, action: ToolCalls) -> dict[str, int]:
        text = action.text + "".join(c.name + c.arguments_json() for c in action.calls)
        return self._usage(Reply(text=text), text)

    def _full_tool_calls(self, action: ToolCalls) -> None:
        rec = self._rec
        self._wait_until(rec.received_at + action.ttft)
        calls = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments_json()},
            }
            for call, call_id in zip(action.calls, action.call_ids, strict=True)
        ]
        message = {
            "role": "assistant",
            "content": action.text or None,
            "refusal": None,
            "tool_calls": calls,
        }
        self._send_json(
            200,
            {
                "id": _new_id("chatcmpl"),
                "object": "chat.completion",
                "created": int(time.time()),
                "model": action.model or rec.model or STUB_MODEL,
                "system_fingerprint": None,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": "tool_calls",
                    }
                ],
                "usage": self._tool_calls_usage(action),
            },
        )

    def _stream_tool_calls(self, action: ToolCalls) -> None:
        """The wire shape of a streamed function call (OpenAI chat completions)."""
        rec = self._rec
        cid = _new_id("chatcmpl")
        model = action.model or rec.model or STUB_MODEL
        usage_field = rec.include_usage
        deltas: list[dict[str, Any]] = []
        if action.text:
            pieces = split_text(action.text, 2)
            deltas.append({"role": "assistant", "content": pieces[0], "refusal": None})
            deltas += [{"content": piece} for piece in pieces[1:]]
        for index, (call, call_id) in enumerate(zip(action.calls, action.call_ids, strict=True)):
            head = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            if not deltas:
                deltas.append({"role": "assistant", "content": None, "tool_calls": [head]})
            else:
                deltas.append({"tool_calls": [head]})
            arguments = call.arguments_json()
            if arguments:
                for piece in split_text(arguments, max(1, action.argument_chunks)):
                    deltas.append(
                        {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                    )
        self._start_stream()
        for i, delta in enumerate(deltas):
            self._wait_until(rec.received_at + action.ttft + i * action.chunk_delay)
            self._send(self._chunk(cid, model, delta, with_usage_field=usage_field))
        tail = self._chunk(cid, model, {}, "tool_calls", with_usage_field=usage_field)
        if usage_field:
            usage_obj = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "system_fingerprint": None,
                "choices": [],
                "usage": self._tool_calls_usage(action),
            }
            tail += _sse_frame(_json_bytes(usage_obj))
        self._send(tail + _sse_frame(b"[DONE]") + _LAST_CHUNK)

    def _perform_error(self, err: Error) -> None:
        self._wait_until(self._rec.received_at + err.delay)
        extra: dict[str, str] = {}
        if err.retry_after is not None:
            extra["Retry-After"] = _format_seconds(err.retry_after)
        if err.retry_after_ms is not None:
            extra["retry-after-ms"] = str(err.retry_after_ms)
        if err.should_retry is not None:
            extra["x-should-retry"] = "true" if err.should_retry else "false"
        extra.update(err.headers)
        body = _error_body(err.status, err.message, err.type, err.code, err.param)
        self._send_json(err.status, body, extra=extra)

    def _cut_stream(self, cut: CutStream) -> None:
        rec = self._rec
        n = cut.chunks if cut.chunks is not None else cut.after_chunks + 1
        pieces = split_text(cut.text, n)[: max(0, cut.after_chunks)]
        if rec.stream:
            self._start_stream()
            model = rec.model or STUB_MODEL
            self._send_pieces(pieces, cut.ttft, cut.chunk_delay, _new_id("chatcmpl"), model)
        else:
            self._wait_until(rec.received_at + cut.ttft)
            full = _json_bytes(self._completion_obj(Reply(text=cut.text)))
            head = self._head(
                200, {"Content-Type": "application/json", "Content-Length": str(len(full))}
            )
            rec.status = 200
            self._send(head + full[: len(full) // 2])
        self._drop(rst=cut.rst)

    def _malformed(self, bad: MalformedJSON) -> None:
        if self._rec.stream and bad.status == 200:
            self._start_stream()
            self._send(_sse_frame(bad.body.encode()) + _sse_frame(b"[DONE]") + _LAST_CHUNK)
        else:
            self._send_body(bad.status, bad.body.encode())

    def _moderation(self, mod: Moderation, body: dict[str, Any]) -> None:
        inputs = _moderation_inputs(body.get("input"))
        result = _moderation_result(mod)
        model = mod.model or self._rec.model or DEFAULT_MODERATION_MODEL
        self._send_json(
            200,
            {"id": _new_id("modr"), "model": model, "results": [result for _ in inputs]},
        )

    def _send_models(self) -> None:
        data = [
            {"id": m, "object": "model", "created": 0, "owned_by": "stub-llm"}
            for m in self.server.stub.models_seen()
        ]
        self._send_json(200, {"object": "list", "data": data})


# --------------------------------------------------------------------------------------
# Public server
# --------------------------------------------------------------------------------------


class StubLLMServer:
    """A scriptable OpenAI-compatible server running in a background thread.

    Script entries are consumed FIFO among the entries that match a request; unmatched
    chat requests get :attr:`default` (``Echo()`` unless changed) and unmatched moderation
    requests get :attr:`default_moderation` (not flagged).  Every request is recorded.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default: ChatAction | None = None,
        verbose: bool = False,
    ) -> None:
        """Create (but do not start) a server; ``port=0`` picks a free port on ``start()``."""
        self.host = host
        self.port = port
        self.verbose = verbose
        self._initial_default: ChatAction = default if default is not None else Echo()
        self._default: ChatAction = self._initial_default
        self._default_moderation = Moderation()
        self._default_embeddings = Embeddings()
        self._lock = threading.Condition()
        self._queue: list[ScriptEntry] = []
        self._requests: list[RecordedRequest] = []
        self._models_seen: dict[str, None] = {}
        self._abort = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            raise RuntimeError("StubLLMServer already started")
        self._abort = threading.Event()
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"stub-llm:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, abort delayed responses and close open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._abort.set()
        httpd.shutdown()
        httpd.close_all_connections()
        httpd.server_close()
        httpd.pool.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321``."""
        host = self.host
        if host in ("", "0.0.0.0"):  # noqa: S104 - only mapping a wildcard to loopback
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The URL to give to ``openai.OpenAI(base_url=...)``, e.g. ``http://127.0.0.1:54321/v1``."""
        return f"{self.url}/v1"

    # -- scripting ---------------------------------------------------------------------

    def script(
        self,
        action: Action,
        *,
        model: str | None = None,
        when_contains: str | None = None,
        times: int = 1,
        endpoint: Endpoint | None = None,
    ) -> ScriptEntry:
        """Queue ``action`` for the next matching request(s).

        ``model``: only requests for that model match.  ``when_contains``: only requests
        whose last user message (for moderations: the input) contains the substring match.
        ``times``: the entry answers that many requests.  ``endpoint`` defaults to
        ``"moderations"`` for :class:`Moderation` and ``"chat"`` otherwise; ``Error``,
        ``Hang``, ``Reset`` and ``MalformedJSON`` may target any endpoint.
        """
        if times < 1:
            raise ValueError("times must be >= 1")
        if endpoint is None:
            endpoint = "moderations" if isinstance(action, Moderation) else "chat"
            endpoint = "embeddings" if isinstance(action, Embeddings) else endpoint
        if isinstance(action, Moderation) and endpoint != "moderations":
            raise ValueError("Moderation entries only apply to the moderations endpoint")
        if isinstance(action, Embeddings) and endpoint != "embeddings":
            raise ValueError("Embeddings entries only apply to the embeddings endpoint")
        if isinstance(action, _CHAT_ONLY_ACTIONS) and endpoint != "chat":
            raise ValueError(f"{type(action).__name__} entries only apply to the chat endpoint")
        if not isinstance(action, (*_GENERIC_ACTIONS, *_CHAT_ONLY_ACTIONS, Moderation, Embeddings)):
            raise TypeError(f"not a script action: {action!r}")
        entry = ScriptEntry(action, endpoint, model, when_contains, times)
        with self._lock:
            self._queue.append(entry)
        return entry

    @property
    def default(self) -> ChatAction:
        """What unmatched chat requests get (initially ``Echo()``)."""
        return self._default

    @default.setter
    def default(self, action: ChatAction) -> None:
        if isinstance(action, Moderation):
            raise TypeError("use default_moderation for Moderation")
        self._default = action

    @property
    def default_moderation(self) -> Moderation:
        """What unmatched moderation requests get (initially not flagged)."""
        return self._default_moderation

    @default_moderation.setter
    def default_moderation(self, action: Moderation) -> None:
        self._default_moderation = action

    @property
    def default_embeddings(self) -> Embeddings:
        """What unmatched embeddings requests get (hashed words, 64 dimensions)."""
        return self._default_embeddings

    @default_embeddings.setter
    def default_embeddings(self, action: Embeddings) -> None:
        self._default_embeddings = action

    @property
    def pending(self) -> list[ScriptEntry]:
        """Script entries not yet (fully) consumed, in queue order."""
        with self._lock:
            return list(self._queue)

    def reset(self, *, abort_in_flight: bool = True) -> None:
        """Clear script, recorded requests and seen models; restore the defaults.

        With ``abort_in_flight`` (default), requests still waiting (``Hang``, slow streams)
        are cut off so they cannot leak into the next test.
        """
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._models_seen.clear()
            self._default = self._initial_default
            self._default_moderation = Moderation()
            self._default_embeddings = Embeddings()
            if abort_in_flight:
                self._abort.set()
                self._abort = threading.Event()

    # -- inspection --------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests were received; raise ``TimeoutError`` if not."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(
                    f"expected {n} request(s) within {timeout}s, got {len(self._requests)}"
                )
            return list(self._requests)

    def models_seen(self) -> list[str]:
        """``"stub-model"`` plus every model requested so far (in first-seen order)."""
        with self._lock:
            return [STUB_MODEL, *(m for m in self._models_seen if m != STUB_MODEL)]

    # -- internals used by the handler ----------------------------------------------------

    def _record(self, rec: RecordedRequest, action: Action | None, outcome: str) -> threading.Event:
        """Record ``rec``; returns the abort event it is subject to (see ``reset()``)."""
        with self._lock:
            rec.action = action
            rec.outcome = outcome
            if rec.model:
                self._models_seen.setdefault(rec.model, None)
            self._requests.append(rec)
            self._lock.notify_all()
            return self._abort

    def _select_and_record(
        self, rec: RecordedRequest, endpoint: Endpoint, match_text: str
    ) -> tuple[Action | None, threading.Event]:
        """Pick the action for a valid request and record it, atomically."""
        with self._lock:
            action: Action | None = None
            for i, entry in enumerate(self._queue):
                if entry.matches(endpoint, rec.model, match_text):
                    entry.remaining -= 1
                    if entry.remaining <= 0:
                        del self._queue[i]
                    action = entry.action
                    rec.scripted = True
                    break
            if action is None:
                if endpoint == "chat":
                    action = self._default
                elif endpoint == "moderations":
                    action = self._default_moderation
                elif endpoint == "embeddings":
                    action = self._default_embeddings
            outcome = "models" if action is None else _outcome_name(action)
            return action, self._record(rec, action, outcome)
