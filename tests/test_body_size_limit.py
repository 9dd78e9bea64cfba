"""Oversized API bodies are refused before the server reads them (chatbot.platform.asgi_body_limit).

Against the real app under uvicorn, over raw sockets. What the server read is measured on the
server: the body bytes uvicorn handed to the app (tests/asgi_probe.py counts them); uvicorn
itself buffers at most a little more before it stops reading the socket.
"""

import json
import os
import socket
import threading
import time

import httpx
import pytest

from tests.servers import AsgiServer
from tests.workers import database_url

LIMIT = 64 * 1024  # API_MAX_BODY_BYTES's default
MB = 1024 * 1024


@pytest.fixture
def server(transactional_db, artifacts_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.test",
            "DATABASE_URL": database_url(),
            "DJANGO_DEBUG": "false",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "API_MAX_BODY_BYTES": str(LIMIT),
        }
    )
    server = AsgiServer(env, artifacts_dir, app="tests.asgi_probe:probe").start(timeout=120)
    yield server
    server.stop()


def _server_read(server: AsgiServer) -> int:
    """Body bytes the app was handed for the previous request."""
    return httpx.get(f"{server.url}/__bytes_read__", timeout=10).json()["bytes_read"]


def _connect(server: AsgiServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    return sock


def _head(path: str, *headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    return ("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict, bool]:
    """(status, JSON body, whether the server closed the connection after it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    try:
        closed = sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        closed = True
    return int(lines[0].split()[1]), json.loads(body), closed


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(server):
    with _connect(server) as sock:
        # 200 MB announced; only 1 KB sent, and nothing more until the answer is in.
        sock.sendall(_head("/api/v1/conversations/", f"Content-Length: {200 * MB}") + b"x" * 1024)
        status, body, closed = _read_response(sock)
    read = _server_read(server)
    print(f"\ndeclared 200 MB: the server read {read} bytes before answering 413")
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert closed
    assert read == 0


def test_a_chunked_body_is_cut_off_once_past_the_limit(server):
    sent = 0
    stopped = threading.Event()
    piece = b"x" * (64 * 1024)
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"

    def stream_300_mb(sock: socket.socket) -> None:
        nonlocal sent
        try:
            while sent < 300 * MB:
                sock.sendall(chunk)
                sent += len(piece)
        except OSError:
            pass  # the server closed the connection: what we expect
        finally:
            stopped.set()

    started = time.monotonic()
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/conversations/", "Transfer-Encoding: chunked"))
        sender = threading.Thread(target=stream_300_mb, args=(sock,), daemon=True)
        sender.start()
        status, body, closed = _read_response(sock)
        assert stopped.wait(10), "the server kept reading the body"
    read = _server_read(server)
    print(
        f"\nchunked 300 MB: the server read {read} bytes, the client got {sent} bytes out "
        f"in {time.monotonic() - started:.2f}s"
    )
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert closed
    assert sent < 300 * MB
    # Up to the first message past the limit. uvicorn hands the app whatever it buffered
    # (its flow control pauses reading at 64 KiB), so under load one message can carry a few
    # chunks: the bound is a few of them, against the 300 MB sent before the fix.
    assert read <= LIMIT + 4 * len(piece)


def test_bodies_within_the_limit_go_through_declared_or_chunked(server):
    payload = json.dumps({"widget_key": "wk_unknown", "pad": "x" * (LIMIT - 100)}).encode()
    assert len(payload) <= LIMIT
    with _connect(server) as sock:
        sock.sendall(_head("/api/v1/widget/sessions/", f"Content-Length: {len(payload)}") + payload)
        status, body, _closed = _read_response(sock)
    assert status != 413 and body["error"]["code"] != "payload_too_large"  # read whole, passed on
    assert _server_read(server) == len(payload)
    assert _server_read(server) == len(payload)
    with _connect(server) as sock:
        half = len(payload) // 2
        chunked = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n"
            for part in (payload[:half], payload[half:])
        )
        sock.sendall(_head("/api/v1/widget/sessions/", "Transfer-Encoding: chunked"))
        sock.sendall(chunked + b"0\r\n\r\n")
        status, body, _closed = _read_response(sock)
    assert status != 413 and body["error"]["code"] != "payload_too_large"  # read whole, passed on
    assert _server_read(server) == len(payload)
