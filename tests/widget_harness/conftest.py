"""Fixtures of the widget harness: one fake API and one Chromium per module, a fresh fake
state and fresh browser contexts (new visitors) per test."""

import pytest
from playwright import sync_api

from tests.browser import CHROMIUM, CHROMIUM_ARGS, page_factory, require_chromium
from tests.widget_harness.fake_api import FakeApi


@pytest.fixture(scope="module")
def fake():
    with FakeApi() as api:
        yield api


@pytest.fixture(autouse=True)
def _reset(fake):
    fake.reset()
    yield


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def make_page(browser):
    with page_factory(browser, timeout_ms=8000) as make:
        yield make
