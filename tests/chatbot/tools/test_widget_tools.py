"""Tools in the real widget: Chromium, the app under uvicorn, a real Celery worker, Redis
Streams, the stub LLM streaming tool calls and a shop's tool endpoint on loopback."""

import pytest

from accounts.services import widget_key_create
from chatbot.tools.models import Tool, ToolCall
from tests.browser import (
    HostSite,
    chromium_browser,
    open_widget,
    page_factory,
    send,
    wait_reply_done,
)
from tests.stub_llm import Reply, ToolCalls
from tests.stub_llm import ToolCall as Call

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def shop_env(worker_env):
    """The worker and the web process offer the demo shop's order_status tool."""
    worker_env["TOOLS_BUILTINS"] = "get_conversation_status,order_status"
    return worker_env


@pytest.fixture
def site(shop_env, asgi_server):
    host = HostSite(f"{asgi_server.url}/static/chatdesk/widget.js")
    yield host
    host.stop()


@pytest.fixture
def shop_key(site):
    return widget_key_create(name="Acme", allowed_origins=[f"http://localhost:{site.port}"])


@pytest.fixture
def new_page(browser):
    with page_factory(browser, timeout_ms=15000) as make:
        yield make


def test_the_order_status_flow_shows_the_lookup_then_the_answer(
    site, shop_key, new_page, llm_stub, artifacts_dir
):
    from playwright.sync_api import expect

    llm_stub.script(ToolCalls([Call("order_status", {"order_number": "1234"})]))
    llm_stub.script(Reply(text="Order 1234 has shipped with DHL.", ttft=1.5, chunks=4))
    page = new_page(site.url(key=shop_key.public_key))
    open_widget(page)

    send(page, "Where is order 1234?")

    status = page.locator(".cd-msg--assistant .cd-tool--running")
    expect(status).to_have_text("Looking up your order…")
    reply = wait_reply_done(page)
    assert "has shipped with DHL" in reply.inner_text()
    expect(reply.locator(".cd-tool")).to_have_count(0)  # the answer replaces the status line
    page.screenshot(path=str(artifacts_dir / "widget-tools-order-status.png"))
    row = ToolCall.objects.get()
    assert (row.tool_name, row.status) == ("order_status", "succeeded")
    (result,) = llm_stub.requests[1].tool_results
    assert '"order_number": "1234"' in result["content"]


def cancel_order_tool(tool_stub, widget_key) -> Tool:
    tool_stub.route("/cancel", body={"cancelled": "1234"})
    tool = Tool.objects.create(
        name="cancel_order",
        description="Cancel an order",
        parameters={
            "type": "object",
            "properties": {"order_number": {"type": "string"}},
            "required": ["order_number"],
        },
        url=tool_stub.url("/cancel"),
        effect=Tool.Effect.SIDE_EFFECTS,
        needs_identity=False,
        confirmation_label="Cancel order {order_number}?",
    )
    tool.widget_keys.add(widget_key)
    return tool


def test_a_side_effect_runs_only_when_the_customer_clicks_confirm(
    site, shop_key, new_page, llm_stub, tool_stub, artifacts_dir
):
    from playwright.sync_api import expect

    cancel_order_tool(tool_stub, shop_key)
    llm_stub.script(ToolCalls([Call("cancel_order", {"order_number": "1234"})]))
    llm_stub.script(Reply(text="Done: order 1234 is cancelled."))
    page = new_page(site.url(key=shop_key.public_key))
    open_widget(page)

    send(page, "Please cancel order 1234")
    question = page.locator(".cd-tool--confirm")
    expect(question.locator(".cd-tool-question")).to_have_text("Cancel order 1234?")
    wait_reply_done(page)
    assert tool_stub.calls("/cancel") == []  # shown, not run
    page.screenshot(path=str(artifacts_dir / "widget-tools-confirm.png"))

    question.locator(".cd-tool-confirm").click()

    expect(question.locator(".cd-tool-decision")).to_have_text("Confirmed")
    expect(page.locator(".cd-msg--assistant").last).to_contain_text("order 1234 is cancelled")
    wait_reply_done(page)
    assert len(tool_stub.calls("/cancel")) == 1
    assert ToolCall.objects.get().status == "succeeded"


@pytest.fixture
def no_replay(shop_env):
    """The SSE stream replays nothing on connect: after a reload, only the history (and the
    list of open questions) can show what was said."""
    shop_env["SSE_REPLAY_SECONDS"] = "0"
    return shop_env


def reload_widget(page):
    page.reload()
    page.wait_for_selector("#chatdesk-widget", state="attached")
    open_widget(page)
    wait_reply_done(page)


def test_a_question_awaiting_confirmation_survives_a_reload_and_confirm_still_runs_it(
    no_replay, site, shop_key, new_page, llm_stub, tool_stub, artifacts_dir
):
    from playwright.sync_api import expect

    cancel_order_tool(tool_stub, shop_key)
    llm_stub.script(ToolCalls([Call("cancel_order", {"order_number": "1234"})]))
    llm_stub.script(Reply(text="Done: order 1234 is cancelled."))
    page = new_page(site.url(key=shop_key.public_key))
    open_widget(page)
    send(page, "Please cancel order 1234")
    expect(page.locator(".cd-tool--confirm")).to_have_count(1)
    wait_reply_done(page)

    reload_widget(page)

    question = page.locator(".cd-msg--assistant .cd-tool--confirm")
    expect(question.locator(".cd-tool-question")).to_have_text("Cancel order 1234?")
    expect(question.locator(".cd-tool-confirm")).to_be_enabled()
    row = ToolCall.objects.get()
    assert question.get_attribute("data-call-id") == str(row.pk)
    assert tool_stub.calls("/cancel") == []
    page.screenshot(path=str(artifacts_dir / "widget-tools-confirm-after-reload.png"))

    question.locator(".cd-tool-confirm").click()

    expect(question.locator(".cd-tool-decision")).to_have_text("Confirmed")
    expect(page.locator(".cd-msg--assistant").last).to_contain_text("order 1234 is cancelled")
    wait_reply_done(page)
    assert len(tool_stub.calls("/cancel")) == 1
    row.refresh_from_db()
    assert row.status == "succeeded"


def test_an_answered_question_does_not_come_back_when_the_stream_replays_it(
    site, shop_key, new_page, llm_stub, tool_stub
):
    """With the default replay window, a reload soon after the answer replays the old
    needs_confirmation event: the list of open questions keeps it from showing buttons."""
    from playwright.sync_api import expect

    cancel_order_tool(tool_stub, shop_key)
    llm_stub.script(ToolCalls([Call("cancel_order", {"order_number": "1234"})]))
    page = new_page(site.url(key=shop_key.public_key))
    open_widget(page)
    send(page, "Please cancel order 1234")
    question = page.locator(".cd-tool--confirm")
    wait_reply_done(page)
    question.locator(".cd-tool-cancel").click()
    expect(question.locator(".cd-tool-decision")).to_have_text("Cancelled")

    reload_widget(page)
    # Events arrive in order on the one stream: once the next reply is in, the replayed
    # events of the first one have all been applied.
    llm_stub.script(Reply(text="You are welcome."))
    send(page, "Thanks")
    expect(page.locator(".cd-msg--assistant").last).to_contain_text("You are welcome.")

    expect(page.locator(".cd-msg--assistant").first).to_contain_text("Cancel order 1234?")
    expect(page.locator(".cd-tool--confirm")).to_have_count(0)
    assert tool_stub.calls("/cancel") == []
    assert ToolCall.objects.get().status == "cancelled"
