"""Behaviour tests for the embeddable widget (chatbot/static/chatdesk/widget.js).

Real Chromium (Debian /usr/bin/chromium) through Playwright, against the in-memory fake API
in ``fake_api.py`` (no Django needed). The host page and the API are on different ports, so
every API call is a real cross-origin request, as on a customer's website.

Fixtures (the fake API, Chromium, ``make_page``) live in ``conftest.py``. Screenshots and
other artefacts go to ``test-artifacts/`` only (see ``test_screenshot_streamed_markdown_reply``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
from playwright import sync_api

from tests.browser import (
    SHADOW,
    open_widget,
    record_reply_snapshots,
    send,
    shadow_active_class,
    wait_reply_done,
)
from tests.widget_harness.fake_api import POLITE_FAILURE, split_chunks

expect = sync_api.expect
REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "test-artifacts" / "widget.png"
DOCS_SCREENSHOT = REPO / "docs" / "img" / "widget.png"  # only with UPDATE_DOCS_SCREENSHOTS=1
DEFAULT_REPLY = (
    "Thanks for your message! This answer is streamed to you in several small pieces "
    "so you can watch it arrive."
)

pytestmark = pytest.mark.browser


# --------------------------------------------------------------------------- helpers


def stored(page, suffix: str):
    return page.evaluate(f"() => localStorage.getItem('chatdesk:wk_test:{suffix}')")


# --------------------------------------------------------------------------- tests


def test_send_streams_reply_in_steps(fake, make_page):
    fake.first_delta_delay = 0.3  # time to see the typing indicator
    fake.delta_delay = 0.06  # deltas slower than frames: each one is a visible step
    page = make_page(fake.page_url())
    launcher = page.locator(".cd-launcher")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    expect(launcher).to_have_attribute("aria-label", "Open chat")
    open_widget(page)
    expect(launcher).to_have_attribute("aria-expanded", "true")
    assert shadow_active_class(page) == "cd-input", "focus moves to the textarea on open"

    panel = page.locator(".cd-panel")
    expect(panel).to_have_attribute("role", "dialog")
    expect(panel).to_have_attribute("aria-label", "Chat with us")
    expect(panel).to_have_attribute("lang", "en")
    log = page.locator(".cd-log")
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "off")  # announced once each: .cd-announcer

    # Shift+Enter inserts a newline, Enter sends.
    box = page.locator(".cd-input")
    box.type("first line")
    box.press("Shift+Enter")
    box.type("second line")
    assert box.input_value() == "first line\nsecond line"
    assert page.locator(".cd-msg").count() == 0

    record_reply_snapshots(page)
    box.press("Enter")

    user = page.locator(".cd-msg--user")
    expect(user).to_have_count(1)
    assert user.locator(".cd-body").inner_text() == "first line\nsecond line"
    expect(box).to_have_value("")
    expect(page.locator(".cd-typing")).to_be_visible()  # typing indicator before any delta

    final = wait_reply_done(page)
    assert final.locator(".cd-body").inner_text().strip() == DEFAULT_REPLY
    expect(page.locator(".cd-typing")).to_have_count(0)
    assert shadow_active_class(page) == "cd-input", "focus stays in the composer after sending"

    snaps = [s for s in page.evaluate("window.__snaps") if s and not s.startswith("Assistant")]
    assert snaps[-1] == DEFAULT_REPLY
    intermediate = snaps[:-1]
    assert len(intermediate) >= 3, f"reply should arrive in visible steps, saw {snaps}"
    for s in intermediate:
        assert DEFAULT_REPLY.startswith(s) and s != DEFAULT_REPLY

    # timestamps: local HH:MM
    for t in page.locator(".cd-msg .cd-time").all_inner_texts():
        assert re.fullmatch(r"\d{2}:\d{2}", t)

    # exactly one session, one conversation, one message POST with a UUID client_message_id
    posts = fake.requests_to(r"/messages/$", "POST")
    assert len(posts) == 1
    assert re.fullmatch(r"[0-9a-f-]{36}", posts[0].body["client_message_id"])
    assert posts[0].body["content"] == "first line\nsecond line"
    assert posts[0].headers["authorization"].startswith("Bearer tok_")
    assert len(fake.requests_to(r"/widget/sessions/$", "POST")) == 1
    # the stream was opened before the message was posted
    kinds = [r.path.rsplit("/", 2)[-2] for r in fake.requests if r.method in ("GET", "POST")]
    assert kinds.index("events") < kinds.index("messages")


def test_reload_restores_history_and_new_conversation_clears(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "hello there")
    wait_reply_done(page)
    conv_id = stored(page, "conversation")
    token = stored(page, "token")
    assert conv_id and token

    page.reload()
    open_widget(page)
    expect(page.locator(".cd-msg")).to_have_count(2)
    assert page.locator(".cd-msg--user .cd-body").inner_text() == "hello there"
    expect(page.locator(".cd-msg--assistant .cd-body")).to_have_text(DEFAULT_REPLY)
    assert stored(page, "token") == token, "the stored session is reused"
    assert len(fake.requests_to(r"/widget/sessions/$", "POST")) == 1
    assert fake.requests_to(rf"/conversations/{conv_id}/messages/$", "GET")

    page.locator(".cd-new").click()
    expect(page.locator(".cd-msg")).to_have_count(0)
    expect(page.locator(".cd-empty")).to_be_visible()
    assert stored(page, "conversation") is None

    send(page, "a fresh start")
    wait_reply_done(page)
    expect(page.locator(".cd-msg")).to_have_count(2)
    new_id = stored(page, "conversation")
    assert new_id and new_id != conv_id
    assert len(fake.conversations) == 2


def test_reply_markup_is_never_executed(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "xss please")
    reply = wait_reply_done(page)
    time.sleep(0.3)

    assert page.evaluate("() => window.__pwned") is None
    dangerous = page.evaluate(
        f"() => {SHADOW}.querySelectorAll('script, img, iframe, object, embed, style').length"
    )
    assert dangerous == 0
    text = reply.locator(".cd-body").inner_text()
    assert "<script>window.__pwned=1</script>" in text
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "<iframe" in text
    hrefs = reply.locator("a").evaluate_all("els => els.map(a => [a.textContent, a.href])")
    for label, href in hrefs:
        assert re.match(r"^(https?|mailto):", href), href
        assert label not in ("click", "data")
    assert "click" in text and "data" in text  # unsafe links survive as plain text
    # the image became an inert link: nothing was fetched
    assert fake.requests_to(r"/track\.png$") == []
    assert [label for label, _ in hrefs] == ["i"]


def test_markdown_rendering(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    fake.queue_reply(
        "Para with **bold**, *italic*, `code` and [docs](https://example.com/docs).\n"
        "Second line https://example.org/path?q=1.\n\n"
        "- one\n- two\n\n1. first\n2. second\n\n"
        "```python\nprint('<b>hi</b>')\n```\n"
        "Mail [us](mailto:help@example.com) or [bad](vbscript:msgbox(1)) or [rel](/relative)."
    )
    send(page, "format test")
    body = wait_reply_done(page).locator(".cd-body")
    assert body.locator("strong").inner_text() == "bold"
    assert body.locator("em").inner_text() == "italic"
    assert body.locator("code.cd-code").inner_text() == "code"
    assert body.locator("br").count() >= 1
    assert body.locator("ul > li").all_inner_texts() == ["one", "two"]
    assert body.locator("ol > li").all_inner_texts() == ["first", "second"]
    assert body.locator("pre code").inner_text() == "print('<b>hi</b>')"
    links = body.locator("a").evaluate_all(
        "els => els.map(a => [a.textContent, a.getAttribute('href'), a.target, a.rel])"
    )
    rel = "noopener noreferrer nofollow"
    assert links == [
        ["docs", "https://example.com/docs", "_blank", rel],
        ["https://example.org/path?q=1", "https://example.org/path?q=1", "_blank", rel],
        ["us", "mailto:help@example.com", "_blank", rel],
    ]
    assert "bad" in body.inner_text() and "rel" in body.inner_text()


def test_hostile_host_css_does_not_leak_in(fake, make_page):
    probe = f"""() => {{
        const root = {SHADOW};
        const props = ['color', 'font-size', 'font-family', 'line-height', 'display',
                       'background-color', 'border-radius', 'padding-top', 'box-sizing',
                       'letter-spacing', 'width', 'height', 'position', 'visibility'];
        const out = {{}};
        for (const sel of ['.cd-launcher', '.cd-panel', '.cd-title', '.cd-input', '.cd-send',
                           '.cd-new', '.cd-close', '.cd-empty', '.cd-log', '.cd-send svg']) {{
            const cs = getComputedStyle(root.querySelector(sel));
            out[sel] = Object.fromEntries(props.map(p => [p, cs.getPropertyValue(p)]));
        }}
        const r = root.querySelector('.cd-panel').getBoundingClientRect();
        out.panelBox = [r.x, r.y, r.width, r.height];
        return out;
    }}"""
    normal = make_page(fake.page_url())
    open_widget(normal)
    baseline = normal.evaluate(probe)

    hostile = make_page(fake.page_url(hostile="1"))
    assert hostile.evaluate("getComputedStyle(document.querySelector('h1')).color") == (
        "rgb(255, 0, 0)"
    ), "the hostile CSS is active on the host page"
    open_widget(hostile)
    assert hostile.evaluate(probe) == baseline
    assert baseline[".cd-send"]["display"] == "flex"
    assert baseline[".cd-title"]["font-size"] == "15px"
    expect(hostile.locator(".cd-input")).to_be_visible()
    send(hostile, "still works")
    wait_reply_done(hostile)


def test_chinese_strings_from_attribute(fake, make_page):
    page = make_page(fake.page_url(lang="zh-Hans"))
    expect(page.locator(".cd-launcher")).to_have_attribute("aria-label", "打开在线客服")
    open_widget(page)
    expect(page.locator(".cd-title")).to_have_text("在线客服")
    expect(page.locator(".cd-panel")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator(".cd-input")).to_have_attribute("placeholder", "请输入消息…")
    expect(page.locator(".cd-send")).to_have_attribute("aria-label", "发送")
    expect(page.locator(".cd-new")).to_have_attribute("aria-label", "新对话")
    expect(page.locator(".cd-close")).to_have_attribute("aria-label", "关闭在线客服")


def test_chinese_strings_from_browser_locale(fake, make_page):
    page = make_page(fake.page_url(), locale="zh-CN")
    open_widget(page)
    expect(page.locator(".cd-title")).to_have_text("在线客服")
    expect(page.locator(".cd-empty")).to_have_text("您好！有什么可以帮您？")  # noqa: RUF001


def test_english_by_default_and_custom_title(fake, make_page):
    page = make_page(fake.page_url(title="Ask Northwind"), locale="fr-FR")
    open_widget(page)
    expect(page.locator(".cd-title")).to_have_text("Ask Northwind")
    expect(page.locator(".cd-panel")).to_have_attribute("aria-label", "Ask Northwind")
    expect(page.locator(".cd-input")).to_have_attribute("placeholder", "Type your message…")


@pytest.mark.parametrize("failure", ["http_503", "network"])
def test_failed_send_retries_with_same_client_message_id(fake, make_page, failure):
    page = make_page(fake.page_url())
    open_widget(page)
    if failure == "http_503":
        fake.fail_next_posts = 1
    else:
        fake.drop_next_posts = 1
    send(page, "please retry me")
    user = page.locator(".cd-msg--user")
    expect(user).to_have_attribute("data-status", "unsent")
    expect(user.locator(".cd-note")).to_have_text("Not sent.")
    expect(page.locator(".cd-msg--assistant")).to_have_count(0)
    expect(page.locator(".cd-input")).to_be_enabled()

    user.locator(".cd-retry").click()
    wait_reply_done(page)
    expect(page.locator(".cd-msg--user")).to_have_count(1)
    expect(page.locator(".cd-retry")).to_have_count(0)
    expect(page.locator(".cd-banner")).to_be_hidden()

    posts = fake.requests_to(r"/messages/$", "POST")
    cmids = {p.body["client_message_id"] for p in posts}
    assert len(posts) == 2 and len(cmids) == 1, [p.body for p in posts]


def test_rate_limited_send_can_be_retried_after_retry_after(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    fake.rate_limit_next_posts = 1
    send(page, "slow down?")
    user = page.locator(".cd-msg--user")
    expect(user.locator(".cd-note")).to_contain_text("too quickly")
    retry = user.locator(".cd-retry")
    expect(retry).to_be_disabled()  # Retry-After: 1 (exposed via CORS)
    expect(retry).to_be_enabled()
    retry.click()
    wait_reply_done(page)
    cmids = {p.body["client_message_id"] for p in fake.requests_to(r"/messages/$", "POST")}
    assert len(cmids) == 1


def test_identity_attributes_are_passed_to_the_session(fake, make_page):
    from tests.widget_harness.fake_api import user_hash_for

    digest = user_hash_for("alice")
    page = make_page(fake.page_url(user_id="alice", user_hash=digest))
    open_widget(page)
    expect(page.locator(".cd-banner")).to_be_hidden()
    sessions = fake.requests_to(r"/widget/sessions/$", "POST")
    assert [r.body for r in sessions] == [
        {"widget_key": "wk_test", "user_id": "alice", "user_hash": digest}
    ]
    assert stored(page, "user") == "alice"


def test_retrying_status_drops_the_partial_text(fake, make_page):
    abandoned = "ZZZ first attempt that the server abandons halfway"
    fake.queue_reply(DEFAULT_REPLY, abandoned=abandoned)
    page = make_page(fake.page_url())
    open_widget(page)
    record_reply_snapshots(page)
    send(page, "retry inside the server")
    final = wait_reply_done(page)
    assert final.locator(".cd-body").inner_text().strip() == DEFAULT_REPLY
    snaps = [s for s in page.evaluate("window.__snaps") if s and not s.startswith("Assistant")]
    assert any(s.startswith("ZZZ") for s in snaps), "the first attempt was shown while streaming"
    # every state shows one attempt only: never the abandoned text glued to the retried one
    assert all(abandoned.startswith(s) or DEFAULT_REPLY.startswith(s) for s in snaps), snaps
    last_abandoned = max(i for i, s in enumerate(snaps) if s.startswith("ZZZ"))
    assert len(snaps[last_abandoned + 1 :]) >= 2, snaps  # the retry streamed in visibly


def test_failed_reply_shows_polite_text_with_error_style(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "this will fail")
    reply = wait_reply_done(page, status="failed")
    expect(reply).to_have_class(re.compile(r"\bcd-msg--error\b"))
    expect(reply.locator(".cd-body")).to_have_text(POLITE_FAILURE)
    expect(reply.locator(".cd-fail-label")).to_have_text("Reply failed")
    bg = reply.locator(".cd-bubble").evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(254, 242, 242)"


def test_unavailable_when_session_is_refused(fake, make_page):
    page = make_page(fake.page_url(key="wk_unknown"))
    open_widget(page)
    banner = page.locator(".cd-banner")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("The assistant is unavailable right now")
    send(page, "anyone there?")
    expect(page.locator(".cd-msg--user")).to_have_attribute("data-status", "unsent")


def test_unavailable_when_api_is_unreachable(fake, make_page):
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    page = make_page(fake.page_url(api_base=f"http://127.0.0.1:{dead}"))
    open_widget(page)
    expect(page.locator(".cd-banner")).to_be_visible()
    assert fake.requests_to(r"/api/") == []


def test_unavailable_when_origin_not_allowed(fake, make_page):
    fake.allowed_origins = {"https://shop.example.com"}
    page = make_page(fake.page_url(lang="zh-Hans"))
    open_widget(page)
    expect(page.locator(".cd-banner")).to_contain_text("助手暂时无法使用")


def test_sse_reconnect_resumes_without_loss_or_duplicates(fake, make_page):
    fake.drop_stream_after_deltas = 3
    page = make_page(fake.page_url())
    open_widget(page)
    record_reply_snapshots(page)
    send(page, "stream with a hiccup")
    final = wait_reply_done(page)
    assert final.locator(".cd-body").inner_text().strip() == DEFAULT_REPLY

    streams = fake.requests_to(r"/events/$", "GET")
    assert len(streams) >= 2
    assert "last-event-id" not in streams[0].headers
    assert fake.dropped_after_event_id is not None
    assert streams[1].headers.get("last-event-id") == fake.dropped_after_event_id
    snaps = [s for s in page.evaluate("window.__snaps") if s and not s.startswith("Assistant")]
    assert all(DEFAULT_REPLY.startswith(s) for s in snaps), snaps  # never garbled/duplicated
    assert not any("GARB" in s for s in snaps)
    assert len(split_chunks(DEFAULT_REPLY)) > 3


def test_reload_mid_reply_resumes_without_duplicated_text(fake, make_page):
    text = " ".join(f"word{i}" for i in range(30)) + "."
    fake.queue_reply(text, chunks=split_chunks(text, 1))
    fake.delta_delay = 0.06
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "a long answer please")
    expect(page.locator(".cd-msg--assistant .cd-body")).to_contain_text("word5")
    page.reload()
    page.wait_for_selector("#chatdesk-widget", state="attached")
    record_reply_snapshots(page)  # before opening: history + replayed deltas are all seen
    open_widget(page)
    final = wait_reply_done(page)
    assert final.locator(".cd-body").inner_text().strip() == text
    snaps = [s for s in page.evaluate("window.__snaps") if s and not s.startswith("Assistant")]
    assert len(snaps) >= 2, snaps
    assert all(text.startswith(s) for s in snaps), snaps  # no duplicated or reordered text
    expect(page.locator(".cd-msg")).to_have_count(2)
    # the reconnect after reload was a fresh stream: the server replayed, the widget de-duplicated
    streams = fake.requests_to(r"/events/$", "GET")
    assert "last-event-id" not in streams[-1].headers


def test_expired_token_creates_a_new_session_once(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "first")
    wait_reply_done(page)
    old_token = stored(page, "token")
    fake.revoke_all_tokens()
    send(page, "second")
    wait_reply_done(page, index=1)
    assert stored(page, "token") != old_token
    assert len(fake.requests_to(r"/widget/sessions/$", "POST")) == 2
    unauthorized = [
        r
        for r in fake.requests_to(r"/messages/$", "POST")
        if r.headers.get("authorization") == f"Bearer {old_token}"
    ]
    assert len(unauthorized) == 2  # the first send, and the second one that got the 401


def test_phone_width_is_full_screen(fake, make_page):
    page = make_page(fake.page_url(), viewport=(375, 667))
    open_widget(page)
    box = page.locator(".cd-panel").bounding_box()
    assert box == {"x": 0, "y": 0, "width": 375, "height": 667}
    expect(page.locator(".cd-launcher")).to_be_hidden()
    page.locator(".cd-close").click()
    expect(page.locator(".cd-panel")).to_be_hidden()
    expect(page.locator(".cd-launcher")).to_be_visible()


def test_desktop_panel_is_a_floating_card(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    box = page.locator(".cd-panel").bounding_box()
    assert box["width"] == 380 and box["x"] > 500
    radius = page.locator(".cd-panel").evaluate("e => getComputedStyle(e).borderTopLeftRadius")
    assert radius == "12px"


def test_keyboard_escape_closes_and_returns_focus(fake, make_page):
    page = make_page(fake.page_url())
    page.locator(".cd-launcher").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".cd-panel")).to_be_visible()
    assert shadow_active_class(page) == "cd-input"
    page.keyboard.type("x")  # the send button is enabled once there is text
    page.keyboard.press("Tab")
    assert shadow_active_class(page) == "cd-send"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert shadow_active_class(page) == "cd-log"
    page.keyboard.press("Escape")
    expect(page.locator(".cd-panel")).to_be_hidden()
    expect(page.locator(".cd-launcher")).to_have_attribute("aria-expanded", "false")
    assert shadow_active_class(page) == "cd-launcher"


def test_host_page_api_and_data_open(fake, make_page):
    page = make_page(fake.page_url(open="true"))
    expect(page.locator(".cd-panel")).to_be_visible()
    page.evaluate("window.Chatdesk.close()")
    expect(page.locator(".cd-panel")).to_be_hidden()
    page.evaluate("window.Chatdesk.open()")
    expect(page.locator(".cd-panel")).to_be_visible()
    send(page, "hi")
    wait_reply_done(page)
    page.evaluate("window.Chatdesk.newConversation()")
    expect(page.locator(".cd-msg")).to_have_count(0)
    assert sorted(page.evaluate("Object.keys(window.Chatdesk)")) == [
        "close",
        "newConversation",
        "open",
    ]


def test_screenshot_streamed_markdown_reply(fake, make_page):
    page = make_page(fake.page_url(), viewport=(1100, 760), scale=1)
    open_widget(page)
    send(page, "How do I reset my password? Please use markdown.")
    wait_reply_done(page)
    page.locator(".cd-input").evaluate("e => e.blur()")
    page.wait_for_timeout(300)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":  # a deliberate act, never by default
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)
