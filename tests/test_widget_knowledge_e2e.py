# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Feature: a customer asks the demo shop a question its knowledge base covers and sees the
answer with its source. Real Chromium, the app under uvicorn, a real Celery worker, Redis
Streams, Postgres full-text search and the stub LLM (which cites [1], as a model would)."""

import pytest
from django.core.management import call_command

from accounts.services import widget_key_create
from chatbot.knowledge.models import Citation
from tests.browser import (
    HostSite,
    chromium_browser,
    open_widget,
    page_factory,
    send,
    wait_reply_done,
)
from tests.stub_llm import Reply

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


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
def shop_key(site):
    call_command("knowledge_load_sample", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return widget_key_create(name="Maple Lane", allowed_origins=[f"http://localhost:{site.port}"])


@pytest.fixture
def new_page(browser):
    with page_factory(browser, timeout_ms=15000) as make:
        yield make


def test_a_customer_sees_the_answer_with_its_source(
    site, shop_key, new_page, llm_stub, artifacts_dir
):
    llm_stub.script(
        Reply(text="You can return any unused item within **30 days** of delivery [1].", chunks=6)
    )
    page = new_page(site.url(key=shop_key.public_key))
    open_widget(page)
    send(page, "How many days do I have to return an item?")
    reply = wait_reply_done(page)
    assert "30 days" in reply.locator(".cd-body").inner_text()
    source = reply.locator(".cd-source")
    source.first.wait_for()
    assert source.count() == 1
    assert source.first.inner_text().replace("\n", " ") == "[1] Returns and refunds"
    link = source.first.locator("a")
    assert link.get_attribute("href") == "https://help.maplelane.example/en/returns"
    assert link.get_attribute("target") == "_blank" and "noopener" in link.get_attribute("rel")
    page.screenshot(path=str(artifacts_dir / "widget-knowledge.png"))
    # What the model was given: the matching article as source [1].
    chat = [r for r in llm_stub.requests if r.path.endswith("/chat/completions")]
    assert "[1] Returns and refunds" in chat[-1].messages[1]["content"]
    assert Citation.objects.get().title == "Returns and refunds"

    # After a reload the history still shows the source.
    page.reload()
    open_widget(page)
    page.locator(".cd-source").first.wait_for()
    assert "Returns and refunds" in page.locator(".cd-source").first.inner_text()


def test_a_chinese_question_gets_a_chinese_source(site, shop_key, new_page, llm_stub):
    llm_stub.script(Reply(text="普通快递三到五个工作日送达 [1]。", chunks=4))
    page = new_page(site.url(key=shop_key.public_key, lang="zh-Hans"))
    open_widget(page)
    send(page, "快递几天能送到？")
    reply = wait_reply_done(page)
    assert "工作日" in reply.inner_text()
    reply.locator(".cd-source").first.wait_for()
    assert "配送与运费" in reply.locator(".cd-source").first.inner_text()
    assert reply.locator(".cd-sources-label").inner_text() == "来源"
