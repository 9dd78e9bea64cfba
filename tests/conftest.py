"""Shared fixtures. The suite runs on real parts: Postgres, Redis, Celery worker processes,
and an OpenAI-compatible stub server on loopback driven by the real `openai` SDK."""

import hashlib
import os
from pathlib import Path

import pytest
import redis
from django.conf import settings
from rest_framework.test import APIClient

from accounts.services import api_token_create, widget_key_create
from chatbot.replies.turn import turn_start
from tests.factories import UserFactory, VisitorFactory
from tests.stub_llm import StubLLMServer
from tests.workers import ROOT, WorkerProcess, database_url

ARTIFACTS = ROOT / "test-artifacts"
DOCS = ROOT / "docs"


# --- Tests write only under test-artifacts/ -----------------------------------------------
# docs/ is snapshotted when the run starts and compared when it ends: a test that rewrites a
# tracked document (the widget screenshot did) fails the run. Refreshing the docs' images is
# a deliberate act: UPDATE_DOCS_SCREENSHOTS=1 (docs/widget.md).

_DOCS_KEY = pytest.StashKey[dict[str, str]]()


def _docs_snapshot() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(DOCS.rglob("*"))
        if path.is_file()
    }


def pytest_sessionstart(session):
    session.config.stash[_DOCS_KEY] = _docs_snapshot()


def pytest_sessionfinish(session, exitstatus):
    before = session.config.stash.get(_DOCS_KEY, None)
    if before is None or os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1":
        return
    after = _docs_snapshot()
    changed = sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = f"the tests changed files under docs/ (write to test-artifacts/): {changed}"
        if reporter:
            reporter.write_line(message, red=True, bold=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session", autouse=True)
def _clean_redis():
    """The suite owns its Redis database (REDIS_URL, db 15 by default): start it empty.

    Under CI a Redis that is down fails here, loudly, rather than skipping anything."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.flushdb()
    yield
    client.flushdb()


@pytest.fixture(autouse=True)
def _reset_circuit_breakers():
    """Circuit-breaker state lives in Redis and outlives a test: every test starts closed,
    so one test's injected failures never open the circuit for the next."""
    from chatbot.routing.breaker import breakers_reset

    breakers_reset()


@pytest.fixture(autouse=True)
def _forget_cached_catalogue():
    """The model catalogue is cached in Redis (chatbot.routing.selectors): a test's rows are
    rolled back without a delete signal, so no test sees another's cached catalogue."""
    from django.core.cache import cache

    from chatbot.routing.selectors import CATALOGUE_CACHE_KEY

    cache.delete(CATALOGUE_CACHE_KEY)


@pytest.fixture(autouse=True)
def _forget_knowledge_cache():
    """What a knowledge search or a turn's tools cache per generation
    (chatbot.platform.generations) must not outlive a test's rolled-back rows: every test
    starts with new generations."""
    from accounts.selectors import WIDGET_ORIGINS
    from chatbot.knowledge import freshness
    from chatbot.tools.selectors import TOOLS_GENERATION

    freshness.generation_replace()
    TOOLS_GENERATION.replace()
    WIDGET_ORIGINS.replace()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def llm_stub_server():
    with StubLLMServer() as server:
        yield server


@pytest.fixture
def llm_stub(llm_stub_server):
    """The stub, reset for this test: empty script, no recorded requests."""
    llm_stub_server.reset()
    yield llm_stub_server
    llm_stub_server.reset()


@pytest.fixture(scope="session")
def tool_stub_server():
    from tests.tool_stub import ToolStub

    server = ToolStub().start()
    yield server
    server.stop()


@pytest.fixture
def tool_stub(tool_stub_server):
    """A shop's tool endpoints on loopback (tests/tool_stub.py), reset for this test."""
    tool_stub_server.reset()
    yield tool_stub_server
    tool_stub_server.reset()


@pytest.fixture
def use_llm_stub(settings, llm_stub):
    """Point this (test) process's LLM client at the stub, e.g. for eager tasks."""
    settings.OPENAI_BASE_URL = llm_stub.base_url
    settings.OPENAI_API_KEY = "sk-test"
    return llm_stub


@pytest.fixture
def rates(settings):
    """Set API rate limits for this test: `rates(widget_session="2/minute")`."""

    def set_rates(**rates):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                **rates,
            },
        }

    return set_rates


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)}")
    return client


@pytest.fixture
def customer(db):
    return UserFactory()


@pytest.fixture
def visitor(db):
    return VisitorFactory()


@pytest.fixture
def customer_client(customer) -> APIClient:
    return client_for(customer)


@pytest.fixture
def widget_key(db):
    return widget_key_create(name="Test site", allowed_origins=["https://shop.example.com"])


# --- Real Celery workers -----------------------------------------------------------------

WORKER_SETTINGS = {
    # Small numbers so kill/recovery tests finish in seconds; documented in docs/reliability.md.
    "LLM_READ_TIMEOUT": "3",
    "LLM_CONNECT_TIMEOUT": "2",
    "REPLY_LEASE_SECONDS": "4",
    "REPLY_SWEEP_INTERVAL_SECONDS": "1",
    "REPLY_REDISPATCH_AFTER_SECONDS": "3",
}


@pytest.fixture
def worker_env(llm_stub) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(WORKER_SETTINGS)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.test",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "EVENT_BUS_URL": settings.EVENT_BUS_URL,
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "CELERY_TASK_DEFAULT_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "OPENAI_BASE_URL": llm_stub.base_url,
            "OPENAI_API_KEY": "sk-test",
            "LOG_LEVEL": "INFO",
        }
    )
    return env


@pytest.fixture
def start_worker(transactional_db, settings, worker_env, artifacts_dir):
    """Start real worker processes; tasks from this test process go to them via Redis."""
    from chatbot.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    for key, value in WORKER_SETTINGS.items():
        setattr(settings, key, float(value))
    app.conf.task_always_eager = False
    app.control.purge()
    workers: list[WorkerProcess] = []

    def start(name: str = "w1", **kwargs) -> WorkerProcess:
        worker = WorkerProcess(name, worker_env, artifacts_dir, **kwargs)
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
    app.conf.task_always_eager = True
    app.control.purge()


@pytest.fixture
def asgi_server(start_worker, worker_env, artifacts_dir):
    """The app under uvicorn (ASGI) on a free port, plus one real worker behind it."""
    from tests.servers import AsgiServer

    start_worker()
    env = {
        **worker_env,
        "SSE_HEARTBEAT_SECONDS": "0.5",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    server = AsgiServer(env, artifacts_dir).start()
    yield server
    server.stop()


@pytest.fixture
def send_now(django_capture_on_commit_callbacks):
    """message_send with its on-commit work (the eager reply task) run at once."""

    def send(conversation, content, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return turn_start(conversation=conversation, content=content, **kwargs)

    return send
