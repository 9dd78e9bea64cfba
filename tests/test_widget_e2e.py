"""The widget end to end: real Chromium, a host site on another origin, the app under
uvicorn, a real Celery worker, Redis Streams and the stub LLM."""

import httpx
import pytest

from accounts.services import identity_hash, widget_key_create, widget_key_rotate_identity_secret
from conversations.models import Conversation
from tests.browser import (
    SHADOW,
    HostSite,
    chromium_browser,
    open_widget,
    page_factory,
    record_reply_snapshots,
    send,
    wait_reply_done,
)
from tests.stub_llm import Reply

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

LONG_REPLY = (
    "Your order **#1042** left our warehouse this morning. Here is what happens next:"
    "\n\n1. The courier scans it tonight.\n2. It arrives in *two days*.\n\n"
    "Track it any time at https://example.com/track."
)


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def site(asgi_server):
    host = HostSite(f"{asgi_server.url}/static/chatdesk/widget.js")
    yield host
    host.stop()


@pytest.fixture
def widget_key(site):
    return widget_key_create(name="Acme", allowed_origins=[f"http://localhost:{site.port}"])


@pytest.fixture
def new_page(browser):
    # Real worker and server behind it: allow more time than the harness's fake API.
    with page_factory(browser, timeout_ms=15000) as make:
        yield make


def test_a_question_streams_in_then_history_survives_a_reload(
    site, widget_key, new_page, llm_stub, artifacts_dir
):
    llm_stub.script(Reply(text=LONG_REPLY, chunks=10, chunk_delay=0.15))
    page = new_page(site.url(key=widget_key.public_key))
    open_widget(page)
    record_reply_snapshots(page)
    send(page, "Where is my order?")
    reply = wait_reply_done(page)
    assert "left our warehouse" in reply.inner_text()
    assert reply.locator("strong").inner_text() == "#1042"
    assert reply.locator("ol li").count() == 2
    snaps = [s for s in page.evaluate("window.__snaps") if s]
    assert len(snaps) >= 3, f"the reply should appear in several steps, saw {snaps}"
    page.screenshot(path=str(artifacts_dir / "widget-e2e.png"))

    page.reload()
    page.wait_for_selector("#chatdesk-widget", state="attached")
    open_widget(page)
    page.wait_for_function(f"() => {SHADOW}.querySelectorAll('.cd-msg').length >= 2")
    texts = page.locator(".cd-msg .cd-body").all_inner_texts()
    assert texts[0] == "Where is my order?" and "left our warehouse" in texts[1]
    assert Conversation.objects.count() == 1


def test_untrusted_model_output_does_nothing(site, widget_key, new_page, llm_stub):
    hostile = (
        'Hi <script>window.__pwned=1</script> <img src=x onerror="window.__pwned=1"> '
        "[click me](javascript:window.__pwned=1) and ![img](http://127.0.0.1:9/t.png)"
    )
    llm_stub.script(Reply(text=hostile, chunks=4))
    page = new_page(site.url(key=widget_key.public_key))
    open_widget(page)
    send(page, "hello")
    reply = wait_reply_done(page)
    assert "<script>" in reply.inner_text()  # shown as text
    assert page.evaluate("window.__pwned") is None
    counts = page.evaluate(f"""() => {{ const r = {SHADOW};
        return [r.querySelectorAll('script').length, r.querySelectorAll('img').length,
                [...r.querySelectorAll('a')].filter(a => a.href.startsWith('javascript'))
                  .length]; }}""")
    assert counts == [0, 0, 0]


def test_another_visitor_cannot_see_the_first_visitors_conversation(
    site, widget_key, new_page, asgi_server
):
    first = new_page(site.url(key=widget_key.public_key))
    open_widget(first)
    send(first, "my secret order 555")
    wait_reply_done(first)
    conversation_id = str(Conversation.objects.get().id)

    second = new_page(site.url(key=widget_key.public_key))  # a new browser context
    open_widget(second)
    assert second.locator(".cd-msg").count() == 0
    send(second, "hi")
    wait_reply_done(second)
    assert "555" not in " ".join(second.locator(".cd-msg").all_inner_texts())
    token = second.evaluate(f"() => localStorage.getItem('chatdesk:{widget_key.public_key}:token')")
    response = httpx.get(
        f"{asgi_server.url}/api/v1/conversations/{conversation_id}/messages/",
        headers={"Authorization": f"Bearer {token}", "Origin": f"http://localhost:{site.port}"},
    )
    assert response.status_code == 404


def test_a_site_not_on_the_keys_list_is_refused(site, widget_key, new_page, asgi_server):
    page = new_page(site.url(host="127.0.0.1", key=widget_key.public_key))
    open_widget(page)
    send(page, "hello?")
    page.wait_for_function(f"() => /unavailable/i.test({SHADOW}.textContent)")
    response = httpx.post(
        f"{asgi_server.url}/api/v1/widget/sessions/",
        json={"widget_key": widget_key.public_key},
        headers={"Origin": f"http://127.0.0.1:{site.port}"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    preflight = httpx.options(
        f"{asgi_server.url}/api/v1/widget/sessions/",
        headers={
            "Origin": f"http://127.0.0.1:{site.port}",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "locale,lang,title",
    [
        ("en-US", None, "Chat with us"),
        ("en-US", "zh-Hans", "在线客服"),
        ("zh-CN", None, "在线客服"),
    ],
)
def test_interface_language(site, widget_key, new_page, locale, lang, title):
    query = {"key": widget_key.public_key}
    if lang:
        query["lang"] = lang
    page = new_page(site.url(**query), locale=locale)
    open_widget(page)
    assert page.locator(".cd-panel").get_attribute("aria-label") == title


def test_identity_verification_links_the_visitor_to_the_customer(site, widget_key, new_page):
    secret = widget_key_rotate_identity_secret(widget_key=widget_key)
    user_hash = identity_hash(secret=secret, external_user_id="cust-77")
    url = site.url(key=widget_key.public_key, user_id="cust-77", user_hash=user_hash)
    page = new_page(url)
    open_widget(page)
    send(page, "It's me, customer 77")
    wait_reply_done(page)
    conversation = Conversation.objects.select_related("customer").get()
    assert conversation.customer.external_id == "cust-77"
    assert not conversation.customer.is_visitor

    # Another device, same verified customer: the history follows them.
    other_device = new_page(url)
    open_widget(other_device)
    other_device.wait_for_function(f"() => {SHADOW}.querySelectorAll('.cd-msg').length >= 2")

    forged = new_page(site.url(key=widget_key.public_key, user_id="cust-77", user_hash="0" * 64))
    open_widget(forged)
    send(forged, "let me in")
    forged.wait_for_function(f"() => /unavailable/i.test({SHADOW}.textContent)")
