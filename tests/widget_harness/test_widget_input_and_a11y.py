"""The widget on bad input and for assistive technology: the length limit and its counter,
rejected messages that can be edited, server errors in the visitor's language, speaker labels,
one announcement per finished reply, the modal phone-width panel, contrast, control names.

Chromium against the fake API, like ``test_widget_unit.py`` (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import re

import pytest
from playwright import sync_api

from tests.browser import SHADOW, open_widget, send, shadow_active_class, wait_reply_done
from tests.widget_harness.fake_api import POLITE_FAILURE

expect = sync_api.expect
DEFAULT_REPLY = (
    "Thanks for your message! This answer is streamed to you in several small pieces "
    "so you can watch it arrive."
)
SERVER_TEXT = "Server says no, in English."

pytestmark = pytest.mark.browser


def message_posts(fake):
    return fake.requests_to(r"/messages/$", "POST")


# --------------------------------------------------------------------------- length limit


def test_counter_shows_near_the_servers_limit_and_send_is_disabled_above_it(fake, make_page):
    fake.max_message_chars = 50  # told to the widget in the session answer
    page = make_page(fake.page_url())
    open_widget(page)
    box, count, send_btn = (
        page.locator(".cd-input"),
        page.locator(".cd-count"),
        page.locator(".cd-send"),
    )

    box.fill("x" * 30)
    expect(count).to_be_hidden()  # far from the limit: no noise
    expect(send_btn).to_be_enabled()

    box.fill("x" * 45)
    expect(count).to_be_visible()
    expect(count).to_contain_text("45 / 50")
    expect(box).not_to_have_attribute("aria-invalid", "true")

    box.fill("x" * 51 + "   ")  # trailing whitespace is not counted, as on the server
    expect(count).to_contain_text("51 / 50")
    expect(count).to_contain_text("1 character too many")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(send_btn).to_be_disabled()
    box.press("Enter")
    page.wait_for_timeout(300)
    assert message_posts(fake) == []
    expect(page.locator(".cd-msg")).to_have_count(0)
    expect(box).to_have_value("x" * 51 + "   ")  # nothing lost

    box.press("End")
    for _ in range(4):
        box.press("Backspace")
    expect(send_btn).to_be_enabled()
    expect(box).not_to_have_attribute("aria-invalid", "true")
    box.press("Enter")
    wait_reply_done(page)
    assert message_posts(fake)[0].body["content"] == "x" * 50


def test_counter_counts_characters_not_utf16_units(fake, make_page):
    fake.max_message_chars = 10
    page = make_page(fake.page_url())
    open_widget(page)
    page.locator(".cd-input").fill("👋" * 10)  # 10 characters (20 UTF-16 code units)
    expect(page.locator(".cd-count")).to_contain_text("10 / 10")
    expect(page.locator(".cd-send")).to_be_enabled()


def test_the_servers_limit_is_remembered_with_the_stored_session(fake, make_page):
    fake.max_message_chars = 50
    page = make_page(fake.page_url())
    open_widget(page)
    page.locator(".cd-input").fill("x")
    expect(page.locator(".cd-send")).to_be_enabled()
    # The session and its limit are stored before the reload (the button alone can be
    # enabled a moment earlier, while the session call is still on its way).
    page.wait_for_function(
        "() => Object.keys(localStorage)"
        ".some(k => k.startsWith('chatdesk:') && k.endsWith(':max_chars'))"
    )
    fake.max_message_chars = None  # from now on the widget cannot learn it from the server
    page.reload()
    page.wait_for_selector("#chatdesk-widget", state="attached")
    open_widget(page)
    page.locator(".cd-input").fill("x" * 51)
    expect(page.locator(".cd-count")).to_contain_text("51 / 50")
    expect(page.locator(".cd-send")).to_be_disabled()
    assert len(fake.requests_to(r"/widget/sessions/$", "POST")) == 1  # no new session


def test_limit_falls_back_to_4000_when_the_server_does_not_say(fake, make_page):
    fake.max_message_chars = None
    page = make_page(fake.page_url())
    open_widget(page)
    box = page.locator(".cd-input")
    box.fill("x" * 4000)
    page.wait_for_timeout(100)  # the session (no limit in it) is in
    expect(page.locator(".cd-send")).to_be_enabled()
    box.fill("x" * 4001)
    expect(page.locator(".cd-count")).to_contain_text("4001 / 4000")
    expect(page.locator(".cd-send")).to_be_disabled()


# --------------------------------------------------------------------------- rejected messages


@pytest.mark.parametrize(
    "status,code,fields,note,retryable",
    [
        (
            400,
            "validation_error",
            {"content": [SERVER_TEXT]},
            "This message could not be sent.",
            False,
        ),
        (413, "payload_too_large", None, "This message is too long.", False),
        (429, "rate_limited", None, "You are sending messages too quickly.", True),
    ],
)
def test_rejected_message_can_be_edited_and_sent_again(
    fake, make_page, status, code, fields, note, retryable
):
    page = make_page(fake.page_url())
    open_widget(page)
    fake.reject_next_posts = [(status, code, SERVER_TEXT, fields)]
    send(page, "please take this")
    user = page.locator(".cd-msg--user")
    expect(user).to_have_attribute("data-status", "unsent")
    expect(user.locator(".cd-note")).to_contain_text(note)
    assert SERVER_TEXT not in user.inner_text()  # the code decides the text, not the server
    expect(user.locator(".cd-retry")).to_have_count(1 if retryable else 0)

    user.locator(".cd-edit").click()
    expect(page.locator(".cd-msg")).to_have_count(0)  # the bubble went back into the composer
    box = page.locator(".cd-input")
    expect(box).to_have_value("please take this")
    assert shadow_active_class(page) == "cd-input"

    box.fill("please take this, edited")
    box.press("Enter")
    wait_reply_done(page)
    posts = message_posts(fake)
    assert [p.body["content"] for p in posts] == ["please take this", "please take this, edited"]
    assert posts[0].body["client_message_id"] != posts[1].body["client_message_id"]


def test_edit_keeps_a_draft_already_in_the_composer(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    fake.reject_next_posts = [(400, "validation_error", SERVER_TEXT, None)]
    send(page, "first")
    expect(page.locator(".cd-msg--user")).to_have_attribute("data-status", "unsent")
    page.locator(".cd-input").fill("a draft")
    page.locator(".cd-edit").click()
    expect(page.locator(".cd-input")).to_have_value("first\n\na draft")


def test_a_message_that_may_have_arrived_is_retried_not_edited(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    fake.drop_next_posts = 1  # no answer: the server may have stored it
    send(page, "did it arrive?")
    user = page.locator(".cd-msg--user")
    expect(user).to_have_attribute("data-status", "unsent")
    expect(user.locator(".cd-retry")).to_have_count(1)
    expect(user.locator(".cd-edit")).to_have_count(0)  # a new id could store it twice


# --------------------------------------------------------------------------- languages


def test_server_errors_are_shown_in_chinese_never_in_the_servers_english(fake, make_page):
    page = make_page(fake.page_url(lang="zh-Hans"))
    open_widget(page)
    fake.reject_next_posts = [(400, "validation_error", SERVER_TEXT, {"content": [SERVER_TEXT]})]
    send(page, "你好")
    note = page.locator(".cd-msg--user .cd-note")
    expect(note).to_have_text("该消息无法发送。")

    page.locator(".cd-edit").click()
    fake.rate_limit_next_posts = 1
    send(page, "你好")
    expect(page.locator(".cd-msg--user .cd-note")).to_have_text("发送太频繁，请稍候再试。")  # noqa: RUF001

    page.locator(".cd-retry").click()  # after Retry-After
    wait_reply_done(page)
    send(page, "this will fail")
    reply = wait_reply_done(page, status="failed")
    expect(reply.locator(".cd-body")).to_have_text("抱歉，出现了问题，请稍后重试。")  # noqa: RUF001
    text = page.locator(".cd-log").inner_text()
    assert "Sorry" not in text and POLITE_FAILURE not in text and SERVER_TEXT not in text
    assert not re.search(r"\b(Not sent|Retry|Edit|Reply failed)\b", text), text


# --------------------------------------------------------------------------- screen readers


def test_every_message_says_who_said_it(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "hello")
    wait_reply_done(page)
    labels = page.locator(".cd-msg .cd-speaker").all_inner_texts()
    assert labels == ["You said:", "Assistant said:"]
    # read first, visually hidden, not hidden from assistive technology
    first = page.locator(".cd-msg--user > :first-child")
    expect(first).to_have_class(re.compile(r"\bcd-sr\b.*\bcd-speaker\b|\bcd-speaker\b.*\bcd-sr\b"))
    assert first.get_attribute("aria-hidden") is None

    zh = make_page(fake.page_url(lang="zh-Hans"))
    open_widget(zh)
    send(zh, "你好")
    wait_reply_done(zh)
    assert zh.locator(".cd-msg .cd-speaker").all_inner_texts() == ["你说：", "助手说："]  # noqa: RUF001


def test_a_streamed_reply_is_announced_once_when_finished(fake, make_page):
    fake.delta_delay = 0.08
    page = make_page(fake.page_url())
    open_widget(page)
    log = page.locator(".cd-log")
    expect(log).to_have_attribute("role", "log")
    expect(log).to_have_attribute("aria-live", "off")  # redraws of a bubble are not announced
    announcer = page.locator(".cd-announcer")
    expect(announcer).to_have_attribute("role", "status")
    expect(announcer).to_have_attribute("aria-live", "polite")
    page.evaluate(f"""() => {{
        const region = {SHADOW}.querySelector('.cd-announcer');
        window.__said = [];
        new MutationObserver(() => {{
            const t = region.textContent.trim();
            if (t) window.__said.push(t);
        }}).observe(region, {{subtree: true, childList: true, characterData: true}});
    }}""")
    send(page, "tell me something")
    expect(page.locator(".cd-msg--assistant .cd-body")).to_contain_text("Thanks for")
    expect(page.locator(".cd-msg--assistant")).to_have_attribute("aria-busy", "true")
    assert page.evaluate("window.__said") == [], "nothing is announced while streaming"
    wait_reply_done(page)
    page.wait_for_timeout(300)
    assert page.evaluate("window.__said") == [f"Assistant said: {DEFAULT_REPLY}"]
    expect(page.locator(".cd-msg--assistant")).not_to_have_attribute("aria-busy", "true")


def test_history_is_not_announced_after_a_reload(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    send(page, "hello")
    wait_reply_done(page)
    page.reload()
    page.wait_for_selector("#chatdesk-widget", state="attached")
    open_widget(page)
    expect(page.locator(".cd-msg")).to_have_count(2)
    page.wait_for_timeout(300)
    assert page.locator(".cd-announcer").inner_text().strip() == ""


# --------------------------------------------------------------------------- keyboard, names


def focus_path(page, key: str, presses: int) -> list[str]:
    """Press `key` repeatedly; where focus is after each press (shadow class or page tag)."""
    seen = []
    for _ in range(presses):
        page.keyboard.press(key)
        seen.append(
            page.evaluate(f"""() => document.activeElement && document.activeElement.id ===
                'chatdesk-widget' ? ({SHADOW}.activeElement || {{}}).className || '?'
                : 'page:' + (document.activeElement || {{}}).tagName""")
        )
    return seen


def test_phone_width_panel_is_a_modal_dialog(fake, make_page):
    page = make_page(fake.page_url(), viewport=(375, 667))
    open_widget(page)
    panel = page.locator(".cd-panel")
    expect(panel).to_have_attribute("aria-modal", "true")
    assert shadow_active_class(page) == "cd-input"
    page.keyboard.type("hi")  # enables Send: one more stop in the cycle

    forward = focus_path(page, "Tab", 8)
    assert not [f for f in forward if f.startswith("page:")], forward  # focus stays inside
    assert {"cd-send", "cd-icon-btn cd-new", "cd-icon-btn cd-close", "cd-log"} <= set(forward)
    backward = focus_path(page, "Shift+Tab", 8)
    assert not [f for f in backward if f.startswith("page:")], backward

    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()
    expect(page.locator(".cd-launcher")).to_be_visible()
    assert shadow_active_class(page) == "cd-launcher"  # focus returns to the launcher


def test_desktop_panel_is_not_modal(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    expect(page.locator(".cd-panel")).to_have_attribute("aria-modal", "false")


@pytest.mark.parametrize(
    "lang,launcher_closed,launcher_open,close_button",
    [
        (None, "Open chat", "Hide chat", "Close chat"),
        ("zh-Hans", "打开在线客服", "收起在线客服", "关闭在线客服"),
    ],
)
def test_launcher_and_close_button_have_distinct_names(
    fake, make_page, lang, launcher_closed, launcher_open, close_button
):
    page = make_page(fake.page_url(**({"lang": lang} if lang else {})))
    launcher = page.locator(".cd-launcher")
    expect(launcher).to_have_accessible_name(launcher_closed)
    open_widget(page)
    expect(launcher).to_have_accessible_name(launcher_open)  # says what it does now
    expect(page.locator(".cd-close")).to_have_accessible_name(close_button)
    assert launcher_open != close_button


# --------------------------------------------------------------------------- contrast


def _luminance(rgb: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", rgb)[:3])

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    hi, lo = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_placeholder_and_input_border_have_enough_contrast(fake, make_page):
    page = make_page(fake.page_url())
    open_widget(page)
    page.locator(".cd-input").evaluate("e => e.blur()")
    page.wait_for_function(f"() => !{SHADOW}.querySelector('.cd-input').getAnimations().length")
    colors = page.locator(".cd-input").evaluate("""e => {
        const cs = getComputedStyle(e), ph = getComputedStyle(e, '::placeholder');
        const panel = getComputedStyle(e.closest('.cd-composer'));
        return {placeholder: ph.color, background: cs.backgroundColor,
                border: cs.borderTopColor, around: panel.backgroundColor};
    }""")
    assert all(not c.startswith("rgba") or c.endswith(", 1)") for c in colors.values()), colors
    assert contrast(colors["placeholder"], colors["background"]) >= 4.5, colors  # WCAG 1.4.3
    assert contrast(colors["border"], colors["background"]) >= 3, colors  # WCAG 1.4.11
    assert contrast(colors["border"], colors["around"]) >= 3, colors
