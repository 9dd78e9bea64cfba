"""Helpers for driving the widget in Debian's Chromium through Playwright."""

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out of a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SHADOW = "document.querySelector('#chatdesk-widget').shadowRoot"


def require_chromium():
    """Skip without Chromium on a developer machine; under CI its absence is a failure."""
    if shutil.which(CHROMIUM) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (scripts/setup-dev installs it)")
        pytest.skip(f"needs {CHROMIUM} (apt-get install chromium)")


@contextmanager
def chromium_browser() -> Iterator:
    """Debian's Chromium through Playwright, for one test module. The tests' own ORM calls
    run on Playwright's sync event loop, so Django's async-unsafe guard is lifted meanwhile."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@contextmanager
def page_factory(browser, *, timeout_ms: int) -> Iterator:
    """`make(url, ...)` opens a page in a fresh browser context (its own localStorage: a new
    visitor) and waits for the widget; on exit, uncaught page errors fail the test."""
    contexts, errors = [], []

    def make(url: str, locale: str = "en-US", viewport=(1024, 768), scale: float = 1):
        context = browser.new_context(
            locale=locale,
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=scale,
            reduced_motion="reduce",  # no open/close transitions to wait for
        )
        context.set_default_timeout(timeout_ms)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#chatdesk-widget", state="attached")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def shadow_active_class(page) -> str:
    """The class of the focused element inside the widget's shadow root ('' if none)."""
    return page.evaluate(f"() => ({SHADOW}.activeElement || {{}}).className || ''")


def open_widget(page):
    from playwright.sync_api import expect

    page.locator(".cd-launcher").click()
    expect(page.locator(".cd-panel")).to_be_visible()
    wait_transitions(page)


def wait_transitions(page):
    """Wait until the panel's open/close CSS transition has finished."""
    page.wait_for_function(
        f"() => {SHADOW}.querySelector('.cd-panel').getAnimations().length === 0"
    )


def send(page, text: str):
    from playwright.sync_api import expect

    box = page.locator(".cd-input")
    expect(box).to_be_enabled()
    box.fill(text)
    # Sending waits for a restored conversation's history; the button says when it may.
    expect(page.locator(".cd-send")).to_be_enabled()
    box.press("Enter")


def wait_reply_done(page, status: str = "completed", index: int = -1, timeout: float = 20000):
    """Wait (polling every frame) for an assistant reply to reach `status`."""
    page.wait_for_function(
        f"""([status, index]) => {{
            const all = {SHADOW}.querySelectorAll('.cd-msg--assistant');
            const el = all[index < 0 ? all.length + index : index];
            return !!el && el.getAttribute('data-status') === status;
        }}""",
        arg=[status, index],
        timeout=timeout,
    )
    replies = page.locator(".cd-msg--assistant")
    return replies.last if index == -1 else replies.nth(index)


def record_reply_snapshots(page):
    """Record every distinct text of the latest assistant bubble, from DOM mutations."""
    page.evaluate(f"""() => {{
        const log = {SHADOW}.querySelector('.cd-log');
        window.__snaps = [];
        new MutationObserver(() => {{
            const bodies = log.querySelectorAll('.cd-msg--assistant .cd-body');
            if (!bodies.length) return;
            const t = bodies[bodies.length - 1].textContent;
            if (window.__snaps[window.__snaps.length - 1] !== t) window.__snaps.push(t);
        }}).observe(log, {{subtree: true, childList: true, characterData: true}});
    }}""")


class HostSite:
    """A third-party site that embeds the widget: `/?key=...&lang=...&user_id=...&hash=...`."""

    def __init__(self, widget_src: str):
        widget_src_ = widget_src

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                query = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
                attrs = f'data-widget-key="{query.get("key", "")}"'
                for name in ("lang", "user-id", "user-hash"):
                    if value := query.get(name.replace("-", "_")):
                        attrs += f' data-{name}="{value}"'
                body = (
                    f"<!doctype html><html><head><title>Shop</title></head><body>"
                    f'<h1>Acme Shoes</h1><script src="{widget_src_}" {attrs} async>'
                    f"</script></body></html>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, host: str = "localhost", **query) -> str:
        qs = "&".join(f"{k}={v}" for k, v in query.items())
        return f"http://{host}:{self.port}/?{qs}"

    def stop(self):
        self.server.shutdown()
