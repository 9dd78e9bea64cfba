"""The managers' dashboard: its numbers on known summary rows (each chart and its CSV),
the filters, who may see it, and a constant number of queries."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group

from accounts.services import widget_key_create
from tests.factories import UserFactory

from .helpers import D1, D3, known_gaps, known_rows

pytestmark = pytest.mark.django_db

URL = "/admin/insights/dashboard/"
RANGE = {"start": D1.isoformat(), "end": D3.isoformat()}


@pytest.fixture
def sites():
    return widget_key_create(name="Shop A"), widget_key_create(name="Shop B")


@pytest.fixture
def known(sites):
    known_rows(*sites)
    return sites


@pytest.fixture
def manager_client(client):
    manager = UserFactory(is_staff=True, username="manager")
    manager.groups.add(Group.objects.get(name="Manager"))
    client.force_login(manager)
    return client


def export(client, chart, **params) -> list[list[str]]:
    response = client.get(URL, {**RANGE, **params, "export": chart})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_volume_and_outcomes_per_day(manager_client, known):
    assert export(manager_client, "volume") == [
        ["day", "conversations"],
        ["2026-11-02", "4"],
        ["2026-11-03", "3"],
        ["2026-11-04", "0"],
        ["total", "7"],
    ]
    assert export(manager_client, "outcomes") == [
        ["day", "conversations", "resolved_by_bot", "handed_off", "abandoned"],
        ["2026-11-02", "4", "2", "1", "1"],
        ["2026-11-03", "3", "1", "1", "1"],
        ["2026-11-04", "0", "0", "0", "0"],
        ["total", "7", "3", "2", "2"],
    ]


def test_handoff_rate_and_pickup_time(manager_client, known):
    assert export(manager_client, "handoffs") == [
        [
            "day",
            "conversations",
            "handed_off",
            "handoff_rate_percent",
            "picked_up",
            "mean_pickup_seconds",
        ],
        ["2026-11-02", "4", "1", "25.0", "1", "30.0"],
        ["2026-11-03", "3", "1", "33.3", "1", "90.0"],
        ["2026-11-04", "0", "0", "", "0", ""],
        ["total", "7", "2", "28.6", "2", "60.0"],
    ]


def test_csat_is_the_share_of_satisfied_ratings(manager_client, known):
    assert export(manager_client, "csat") == [
        ["day", "ratings", "satisfied", "unsatisfied", "csat_percent"],
        ["2026-11-02", "3", "2", "1", "66.7"],
        ["2026-11-03", "2", "1", "1", "50.0"],
        ["2026-11-04", "0", "0", "0", ""],
        ["total", "5", "3", "2", "60.0"],
    ]


def test_top_knowledge_gaps_seen_in_the_range(manager_client, known):
    known_gaps(*known)
    assert export(manager_client, "gaps") == [
        ["question", "occurrences"],
        ["How do I return shoes?", "5"],
        ["'=HYPERLINK(1)", "3"],  # quoted: a spreadsheet must not run it
        ["Do you ship to Mars?", "2"],
    ]
    site_b = known[1]
    assert export(manager_client, "gaps", widget_key=site_b.public_key)[1:] == [
        ["Do you ship to Mars?", "2"]
    ]
    html = manager_client.get(URL, RANGE).content.decode()
    assert "<title>How do I return shoes?: 5</title>" in html


def test_cost_per_conversation_and_per_bot_resolved_conversation(manager_client, known):
    assert export(manager_client, "cost") == [
        [
            "day",
            "conversations",
            "cost",
            "cost_per_conversation",
            "resolved_by_bot",
            "cost_per_bot_resolved",
        ],
        ["2026-11-02", "4", "0.060000", "0.015000", "2", "0.020000"],
        ["2026-11-03", "3", "0.065000", "0.021667", "1", "0.020000"],
        ["2026-11-04", "0", "0.000000", "", "0", ""],
        ["total", "7", "0.125000", "0.017857", "3", "0.020000"],
    ]


def test_reply_latency_percentiles_over_every_answer(manager_client, known):
    # D1: 100 200 300 400; D2: 500 600 1000 2000 (nearest rank, like percentile_disc).
    assert export(manager_client, "latency") == [
        ["day", "replies", "p50_ms", "p95_ms"],
        ["2026-11-02", "4", "200", "400"],
        ["2026-11-03", "4", "600", "2000"],
        ["2026-11-04", "0", "", ""],
        ["total", "8", "400", "2000"],
    ]


def test_widget_key_filter_scopes_every_figure(manager_client, known):
    site_a, _ = known
    key = {"widget_key": site_a.public_key}
    assert export(manager_client, "outcomes", **key)[1:] == [
        ["2026-11-02", "4", "2", "1", "1"],
        ["2026-11-03", "1", "0", "0", "1"],
        ["2026-11-04", "0", "0", "0", "0"],
        ["total", "5", "2", "1", "2"],
    ]
    assert export(manager_client, "latency", **key)[-1] == ["total", "5", "300", "600"]
    assert export(manager_client, "cost", **key)[-1] == [
        "total",
        "5",
        "0.065000",
        "0.013000",
        "2",
        "0.020000",
    ]


def test_page_shows_every_chart_as_accessible_svg_with_its_table(manager_client, known):
    page = manager_client.get(URL, RANGE)
    assert page.status_code == 200
    html = page.content.decode()
    for key in ("volume", "outcomes", "handoffs", "csat", "cost", "latency", "gaps"):
        assert f'id="chart-{key}"' in html
        assert f"export={key}" in html
    assert html.count('role="img"') == 9  # handoffs and CSAT have two charts each
    assert '<title id="volume-t">Conversations per day</title>' in html
    assert "<title>Nov 02: 4</title>" in html  # each bar says its value
    assert "<title>Nov 03: Handed off: 1</title>" in html
    assert '<th scope="row">total</th><td>7</td><td>3</td><td>2</td><td>2</td>' in html
    assert "<script" not in html.split('id="insights-dashboard"')[1]
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from another origin


def test_defaults_to_the_last_30_days(manager_client, known):
    rows = export(manager_client, "volume", start="", end="")
    assert len(rows) == 1 + 30 + 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "2026-11-05", "end": "2026-11-01"}, "The start date must not be after"),
        ({"start": "2026-13-01"}, "Enter a valid date."),
        ({"start": "2025-01-01", "end": "2026-11-01"}, "at most 366 days"),
        ({"widget_key": "wk_nope"}, "Unknown widget key"),
    ],
)
def test_bad_filters_get_a_clear_message_not_an_error(manager_client, known, params, message):
    page = manager_client.get(URL, params)
    assert page.status_code == 400
    assert message in page.content.decode()
    exported = manager_client.get(URL, {**params, "export": "volume"})
    assert exported.status_code == 400
    assert message in exported.content.decode()


def test_unknown_chart_to_export_is_refused(manager_client, known):
    response = manager_client.get(URL, {"export": "passwords"})
    assert response.status_code == 400
    assert "Unknown chart 'passwords'" in response.content.decode()


def test_only_managers_see_the_dashboard(client, known):
    anonymous = client.get(URL)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

    client.force_login(UserFactory())  # a customer: not staff
    assert client.get(URL).status_code == 302

    client.force_login(UserFactory(is_staff=True, username="agent"))  # staff, not a manager
    assert client.get(URL).status_code == 403
    assert client.get(URL, {"export": "cost"}).status_code == 403

    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="root"))
    assert client.get(URL).status_code == 200


def test_queries_stay_constant_as_rows_grow(manager_client, sites, django_assert_max_num_queries):
    known_rows(*sites)
    with django_assert_max_num_queries(10):
        assert manager_client.get(URL, RANGE).status_code == 200
    for _ in range(20):
        known_rows(*sites)
    with django_assert_max_num_queries(10):
        assert manager_client.get(URL, RANGE).status_code == 200
    with django_assert_max_num_queries(10):
        assert manager_client.get(URL, {**RANGE, "export": "latency"}).status_code == 200
