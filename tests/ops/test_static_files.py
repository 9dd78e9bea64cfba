"""Static files and the favicon, served by the app itself, through the ASGI application that
uvicorn runs (not the test client, which never takes the ASGI handler's streaming path)."""

import asyncio
import warnings

from django.core.asgi import get_asgi_application

from tests.workers import ROOT

WIDGET_JS = ROOT / "chatbot" / "static" / "chatdesk" / "widget.js"


def asgi_request(
    path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request through Django's ASGI handler, as uvicorn sends it. Returns the status,
    headers (lower-cased names) and body, and fails on any warning raised meanwhile (like
    `python -W error`; Django runs the view in a task whose exceptions never reach this
    caller, so warnings are recorded and asserted on instead)."""
    raw_headers = [(b"host", b"localhost")]
    raw_headers += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": raw_headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict] = []
    pending = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if pending:
            return pending.pop()
        await asyncio.Future()  # the client stays connected; Django cancels this when done

    async def send(message):
        sent.append(message)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(get_asgi_application()(scope, receive, send))
    assert [str(w.message) for w in caught] == []
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], {k.lower(): v for k, v in start["headers"]}, body


def test_static_file_streams_under_asgi_without_warnings():
    # With WhiteNoise (a sync FileResponse) Django warned "StreamingHttpResponse must consume
    # synchronous iterators" here and read the whole file into memory in a thread.
    status, headers, body = asgi_request("/static/chatdesk/widget.js")
    assert status == 200
    assert body == WIDGET_JS.read_bytes()
    assert headers[b"content-type"].startswith(b"text/javascript")


def test_favicon_ico_is_served_at_the_site_root():
    status, headers, body = asgi_request("/favicon.ico")
    assert status == 200
    assert headers[b"content-type"] in (b"image/vnd.microsoft.icon", b"image/x-icon")
    assert body[:4] == b"\0\0\1\0"  # an ICO header, not an HTML error page


def test_svg_favicon_is_a_static_file():
    status, headers, body = asgi_request("/static/chatdesk/favicon.svg")
    assert status == 200
    assert headers[b"content-type"].startswith(b"image/svg+xml")
    assert body.startswith(b"<svg")


def test_home_page_links_the_favicons(client, db):
    html = client.get("/").content.decode()
    assert '<link rel="icon" href="/favicon.ico"' in html
    assert 'href="/static/chatdesk/favicon.svg" type="image/svg+xml"' in html


def test_cors_origin_check_still_runs_in_sync_mode_under_asgi(transactional_db):
    """The static middleware is async-only: placed below CorsMiddleware it would switch that
    one to async mode, where its origin signal handler's query raises SynchronousOnlyOperation
    (a 500 on every cross-origin widget call). Settings keep it above; this proves it."""
    from accounts.services import widget_key_create

    widget_key_create(name="Shop", allowed_origins=["https://shop.example.com"])
    status, headers, _ = asgi_request(
        "/api/v1/widget/sessions/",
        method="OPTIONS",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert status == 200
    assert headers[b"access-control-allow-origin"] == b"https://shop.example.com"
