"""The staff inbox end to end: real Chromium with two browser contexts (a customer in the
widget, an agent in the inbox), TWO uvicorn processes (the customer on one, the agent on
the other, so every live event crosses processes through Redis), a real Celery worker and
the stub LLM.

Screenshots go to test-artifacts/; with UPDATE_DOCS_SCREENSHOTS=1 also to docs/img/.
"""

import os
import shutil

import pytest
from django.conf import settings
from playwright.sync_api import expect

from accounts.services import widget_key_create
from conversations.models import Conversation, Message
from tests.browser import (
    HostSite,
    chromium_browser,
    open_widget,
    page_factory,
    send,
    wait_reply_done,
)
from tests.conftest import DOCS
from tests.factories import UserFactory
from tests.servers import AsgiServer
from tests.stub_llm import Reply

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

PASSWORD = "inbox-e2e-Passw0rd!"


@pytest.fixture(scope="module")
def browser():
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def web(start_worker, worker_env, artifacts_dir):
    """Two web processes and one worker."""
    if not settings.EVENT_BUS_URL:
        pytest.fail("this test needs Redis: EVENT_BUS_URL is empty")
    start_worker()
    env = {
        **worker_env,
        "SSE_HEARTBEAT_SECONDS": "0.5",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    # A roomy start-up allowance: the suite shares 2 cores with other runs.
    servers = [AsgiServer(env, artifacts_dir).start(timeout=120) for _ in range(2)]
    yield servers
    for server in servers:
        server.stop()


def _shot(page, artifacts_dir, name: str) -> None:
    path = artifacts_dir / name
    page.screenshot(path=str(path))
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        (DOCS / "img").mkdir(exist_ok=True)
        shutil.copy(path, DOCS / "img" / name)


def _agent():
    from django.contrib.auth.models import Group

    from accounts.roles import AGENT_GROUP, roles_sync

    roles_sync()
    agent = UserFactory(username="alex", first_name="Alex", is_staff=True)
    agent.set_password(PASSWORD)
    agent.save()
    agent.groups.add(Group.objects.get(name=AGENT_GROUP))
    return agent


def _queued(name: str, email: str, text: str, *, minutes: int) -> Conversation:
    from datetime import timedelta

    from django.utils import timezone

    from conversations.models import ModerationFlag

    first, _, last = name.partition(" ")
    customer = UserFactory(first_name=first, last_name=last, email=email)
    conversation = Conversation.objects.create(
        customer=customer,
        handling="waiting",
        handoff_requested_at=timezone.now() - timedelta(minutes=minutes),
    )
    message = Message.objects.create(conversation=conversation, role="user", content=text)
    if "charged" in text:
        ModerationFlag.objects.create(
            message=message, source="input", action="flagged", categories=["pii/card"]
        )
    return conversation


def test_customer_asks_agent_answers_live_then_bot_resumes_with_the_handoff_in_context(
    web, browser, llm_stub, artifacts_dir
):
    customer_server, agent_server = web
    site = HostSite(f"{customer_server.url}/static/chatdesk/widget.js")
    key = widget_key_create(name="Acme", allowed_origins=[f"http://localhost:{site.port}"])
    _agent()
    # Two customers already in the queue, waiting longer: the new one is listed after them.
    earlier = [
        _queued("Lin Wei", "lin@example.com", "Can I talk to a person about my order?", minutes=7),
        _queued("", "buyer@example.com", "I was charged twice for order 5521", minutes=3),
    ]
    try:
        with page_factory(browser, timeout_ms=15000) as new_page:
            # The agent logs in to the admin on the other web process and opens the inbox.
            agent_context = browser.new_context(viewport={"width": 1440, "height": 900})
            agent_context.set_default_timeout(15000)
            inbox = agent_context.new_page()
            errors = []
            inbox.on("pageerror", lambda e: errors.append(str(e)))
            inbox.goto(f"{agent_server.url}/admin/inbox/")
            inbox.fill("#id_username", "alex")
            inbox.fill("#id_password", PASSWORD)
            inbox.click("input[type=submit]")
            expect(inbox.locator("#inbox")).to_be_visible()
            inbox.click(".cd-views button[data-view=waiting]")
            expect(inbox.locator(".cd-row")).to_have_count(2)

            # The customer chats with the bot, then asks for a person.
            llm_stub.script(Reply(text="I can check that for you.", chunks=3))
            page = new_page(site.url(key=key.public_key))
            open_widget(page)
            send(page, "My parcel is late, order 1234")
            wait_reply_done(page)
            page.locator(".cd-handoff-main").click()
            expect(page.locator(".cd-msg--system").last).to_contain_text("Waiting for an agent")

            # It appears in the agent's list live (SSE across processes), waiting, after
            # those who have waited longer.
            conversation = Conversation.objects.exclude(pk__in=[c.pk for c in earlier]).get()
            row = inbox.locator(f".cd-row[data-id='{conversation.pk}']")
            expect(row).to_be_visible()
            expect(row.locator(".cd-wait")).to_contain_text("waiting")
            expect(row.locator(".cd-row-name")).to_have_text(
                f"Visitor {conversation.customer_id.hex[:4]}"
            )
            names = inbox.locator(".cd-row-name").all_inner_texts()
            assert names == ["Lin Wei", "buyer@example.com", names[2]]
            _shot(inbox, artifacts_dir, "inbox-list.png")

            # The agent opens it, takes it over and replies (Enter sends).
            row.click()
            expect(inbox.locator(".cd-transcript")).to_contain_text("My parcel is late")
            inbox.click(".cd-take-over")
            expect(inbox.locator(".cd-badge")).to_have_text("With an agent")
            expect(page.locator(".cd-msg--system").last).to_contain_text("Alex joined")
            calls_before = len(llm_stub.requests)
            box = inbox.locator(".cd-compose textarea")
            box.fill("Hi, Alex here. I **re-sent** your parcel.")
            box.press("Enter")

            # The customer sees it live, from a person; no bot reply is generated.
            staff = page.locator(".cd-msg--staff").last
            expect(staff.locator(".cd-body")).to_have_text("Hi, Alex here. I re-sent your parcel.")
            send(page, "Thank you, when will it arrive?")
            expect(inbox.locator(".cd-transcript")).to_contain_text("when will it arrive")
            inbox.locator(".cd-compose textarea").fill("An internal note: VIP customer")
            inbox.click(".cd-tab:has-text('Internal note')")
            note_box = inbox.locator(".cd-compose textarea")
            note_box.fill("VIP customer, be quick")
            note_box.press("Enter")
            expect(inbox.locator(".cd-note")).to_contain_text("VIP customer, be quick")
            _shot(inbox, artifacts_dir, "inbox-conversation.png")
            page.screenshot(path=str(artifacts_dir / "inbox-customer-view.png"))
            assert len(llm_stub.requests) == calls_before
            assert not Message.objects.filter(role="assistant", status="pending").exists()
            assert "VIP" not in page.locator(".cd-log").inner_text()  # notes stay internal

            # The agent hands back; the bot answers the next message knowing what happened.
            inbox.click(".cd-release")
            expect(page.locator(".cd-msg--system").last).to_contain_text("the assistant is back")
            llm_stub.script(Reply(text="Glad Alex sorted it out.", chunks=2))
            answered = page.locator(".cd-msg--assistant").count()
            send(page, "One more question about returns")
            back = wait_reply_done(page, index=answered)  # the new reply, not the last answered
            assert "Glad Alex sorted it out." in back.inner_text()
            context = "\n".join(str(m.get("content")) for m in llm_stub.requests[-1].messages)
            assert "[Handoff ended]" in context and "Alex" in context
            assert "Hi, Alex here." in context  # what the agent said is in the history
            assert not errors, errors
            agent_context.close()
    finally:
        site.stop()
