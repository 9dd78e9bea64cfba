"""The customer's side of the handoff end to end: real Chromium, the app under uvicorn, a
real Celery worker, Redis Streams and the stub LLM. Staff act through the services (the
inbox's own browser test drives its pages)."""

import pytest
from playwright.sync_api import expect

from accounts.services import widget_key_create
from conversations import services
from conversations.models import Conversation, Feedback, Message
from tests.browser import (
    SHADOW,
    HostSite,
    chromium_browser,
    open_widget,
    page_factory,
    send,
    wait_reply_done,
)
from tests.factories import StaffFactory
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
def widget_key(site):
    return widget_key_create(name="Acme", allowed_origins=[f"http://localhost:{site.port}"])


@pytest.fixture
def new_page(browser):
    with page_factory(browser, timeout_ms=15000) as make:
        yield make


@pytest.fixture
def seeded_rules():
    """The rules the data migration seeds (a transactional test's flush removed them)."""
    from importlib import import_module

    from conversations.models import HandoffRule

    seed = import_module("conversations.migrations.0007_handoff_rules_seed")
    for phrase, whole in seed.RULES:
        HandoffRule.objects.get_or_create(phrase=phrase, defaults={"whole_message": whole})


def test_talk_to_a_person_then_the_agent_answers_live_then_the_bot_is_back(
    site, widget_key, new_page, llm_stub, artifacts_dir
):
    llm_stub.script(Reply(text="I can check that for you.", chunks=3))
    page = new_page(site.url(key=widget_key.public_key))
    open_widget(page)
    send(page, "My parcel is late")
    reply = wait_reply_done(page)
    # Thumbs under the bot's answer; a vote and a comment are stored.
    reply.locator(".cd-vote-down").click()
    reply.locator(".cd-comment-input").fill("too vague")
    reply.locator(".cd-comment-send").click()
    expect(reply.locator(".cd-meta")).to_contain_text("Thanks for your feedback")

    page.locator(".cd-handoff-main").click()
    expect(page.locator(".cd-msg--system").last).to_contain_text("Waiting for an agent")
    expect(page.locator(".cd-handoff-main")).to_be_hidden()
    conversation = Conversation.objects.get()
    assert conversation.handling == "waiting"
    feedback = Feedback.objects.get()
    assert (feedback.kind, feedback.vote, feedback.comment) == ("helpfulness", "down", "too vague")

    # While waiting, the customer's messages get no bot reply (and no typing bubble).
    calls_before = len(llm_stub.requests)
    send(page, "Hello, anyone?")
    page.wait_for_function(
        f"() => [...{SHADOW}.querySelectorAll('.cd-msg--user')].some("
        "m => m.dataset.id && m.innerText.includes('Hello, anyone?'))"
    )

    agent = StaffFactory(first_name="Alex")
    services.conversation_take_over(conversation=conversation, agent=agent)
    expect(page.locator(".cd-msg--system").last).to_contain_text("Alex joined")
    services.staff_message_send(
        conversation=conversation, author=agent, content="Hi, I'm Alex. I **re-sent** it."
    )
    staff = page.locator(".cd-msg--staff").last
    expect(staff.locator(".cd-body")).to_have_text("Hi, I'm Alex. I re-sent it.")
    expect(staff.locator(".cd-sender")).to_have_text("Alex")
    assert staff.locator("strong").inner_text() == "re-sent"
    page.screenshot(path=str(artifacts_dir / "widget-handoff.png"))
    assert len(llm_stub.requests) == calls_before
    assert page.locator(".cd-msg--assistant:not([hidden]) .cd-typing").count() == 0

    services.conversation_release(conversation=conversation, actor=agent)
    expect(page.locator(".cd-msg--system").last).to_contain_text("Alex left; the assistant is back")
    expect(page.locator(".cd-handoff-main")).to_be_visible()
    llm_stub.script(Reply(text="Glad Alex sorted it out.", chunks=2))
    answered = page.locator(".cd-msg--assistant").count()
    send(page, "Thanks!")
    back = wait_reply_done(page, index=answered)  # the new reply, not the last answered
    assert "Glad Alex sorted it out." in back.inner_text()
    assert not Message.objects.filter(status__in=["pending", "streaming"]).exists()

    # Closed by the agent: the customer is asked for a rating.
    services.conversation_close(conversation=conversation, actor=agent, reason="resolved")
    line = page.locator(".cd-msg--system").last
    expect(line).to_contain_text("How did we do?")
    line.locator(".cd-vote-up").click()
    expect(line.locator(".cd-comment-input")).to_be_visible()
    page.wait_for_function("() => true")
    for _ in range(50):
        if Feedback.objects.filter(kind="csat").exists():
            break
        page.wait_for_timeout(100)
    assert Feedback.objects.get(kind="csat").vote == "up"


def test_a_staff_answer_waits_in_the_widget_for_the_next_visit(
    seeded_rules, site, widget_key, new_page, llm_stub
):
    page = new_page(site.url(key=widget_key.public_key))
    open_widget(page)
    send(page, "转人工")
    expect(page.locator(".cd-msg--system").last).to_contain_text("Waiting for an agent")
    conversation = Conversation.objects.get()
    Conversation.objects.filter(pk=conversation.pk).update(handling="followup")
    page.close()

    agent = StaffFactory(first_name="Mei")
    services.staff_message_send(conversation=conversation, author=agent, content="We refunded you.")

    # The same visitor comes back (same browser context: a new page, the stored session).
    again = page.context.new_page()
    again.goto(site.url(key=widget_key.public_key))
    again.wait_for_selector("#chatdesk-widget", state="attached")
    open_widget(again)
    staff = again.locator(".cd-msg--staff").last
    expect(staff.locator(".cd-body")).to_have_text("We refunded you.")
    expect(staff.locator(".cd-sender")).to_have_text("Mei")
    expect(again.locator(".cd-email-input")).to_be_visible()  # still awaiting follow-up
    again.locator(".cd-email-input").fill("me@shop.example")
    again.locator(".cd-email-send").click()
    expect(again.locator(".cd-msg--system").last).to_contain_text("me@shop.example")
    conversation.refresh_from_db()
    assert conversation.followup_email == "me@shop.example"
    assert len(llm_stub.requests) == 0
