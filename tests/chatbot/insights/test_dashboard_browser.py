"""The dashboard in real Chromium: every chart drawn with the dashboard's stylesheet, no page
error, nothing fetched from elsewhere; the screenshot in docs/ comes from here
(UPDATE_DOCS_SCREENSHOTS=1, docs/dashboards.md)."""

import os
import random
import shutil
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import widget_key_create
from chatbot.insights.models import ConversationSummary
from chatbot.insights.summary import daily_rollup_rebuild
from chatbot.knowledge.models import KnowledgeGap
from tests.browser import chromium_browser
from tests.factories import UserFactory
from tests.workers import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = ROOT / "test-artifacts" / "dashboard.png"
DOCS_SCREENSHOT = ROOT / "docs" / "img" / "dashboard.png"  # only with UPDATE_DOCS_SCREENSHOTS=1
Outcome = ConversationSummary.Outcome


def a_month_of_conversations() -> None:
    rng = random.Random(12)
    keys = [widget_key_create(name="Shop"), widget_key_create(name="Help centre")]
    today = timezone.localdate()
    rows = []
    for days_ago in range(30):
        day = today - timedelta(days=days_ago)
        started = timezone.make_aware(datetime.combine(day, time(12)))
        for _ in range(rng.randint(25, 60) + (0 if day.weekday() < 5 else -15)):
            handed_off = rng.random() < 0.22
            outcome = (
                Outcome.HANDED_OFF
                if handed_off
                else (Outcome.RESOLVED_BY_BOT if rng.random() < 0.82 else Outcome.ABANDONED)
            )
            replies = rng.randint(1, 5)
            rows.append(
                ConversationSummary(
                    widget_key=rng.choice(keys),
                    day=day,
                    started_at=started,
                    ended_at=started,
                    outcome=outcome,
                    customer_messages=replies,
                    bot_replies=replies,
                    handed_off=handed_off,
                    pickup_seconds=rng.uniform(20, 300) if handed_off else None,
                    csat_satisfied=(rng.random() < 0.78) if rng.random() < 0.3 else None,
                    cost=Decimal(rng.randint(2_000, 40_000)) / Decimal(10_000_000),
                    reply_latencies_ms=[int(rng.lognormvariate(7.1, 0.45)) for _ in range(replies)],
                    source_last_message_at=started,
                    source_status="closed",
                    computed_at=started,
                )
            )
    ConversationSummary.objects.bulk_create(rows)
    daily_rollup_rebuild(days={row.day for row in rows})
    for i, (question, count) in enumerate(
        [
            ("Do you ship to Iceland?", 31),
            ("Can I pay with an invoice?", 24),
            ("How long is the warranty on refurbished phones?", 17),
            ("Is there a student discount?", 12),
            ("Can I change the delivery address after ordering?", 9),
        ]
    ):
        KnowledgeGap.objects.create(
            normalized_text=question.lower(), question=question, count=count, widget_key=keys[i % 2]
        )


@pytest.fixture
def browser():
    with chromium_browser() as browser:
        yield browser


def test_dashboard_renders_in_chromium(live_server, browser):
    a_month_of_conversations()
    manager = UserFactory(is_staff=True, is_superuser=True, username="manager", first_name="Mia")
    client = Client()
    client.force_login(manager)
    session = client.cookies["sessionid"].value

    context = browser.new_context(viewport={"width": 1280, "height": 1560}, reduced_motion="reduce")
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
    page = context.new_page()
    errors, foreign = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else foreign.append(r.url),
    )
    page.goto(f"{live_server.url}/admin/insights/dashboard/")

    charts = page.locator("#insights-dashboard svg.chart")
    assert charts.count() == 9
    assert page.locator(".insights-tiles dd").first.inner_text() != "0"
    # The stylesheet applies (colours come from classes, not inline styles).
    fill = page.locator("#chart-volume rect.series-0").first.evaluate(
        "e => getComputedStyle(e).fill"
    )
    assert fill == "rgb(43, 108, 176)"
    assert page.locator("#chart-gaps svg title").first.text_content() == "Top knowledge gaps"
    assert not errors and not foreign

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 20_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":  # a deliberate act, never by default
        shutil.copyfile(SCREENSHOT, DOCS_SCREENSHOT)
    context.close()
