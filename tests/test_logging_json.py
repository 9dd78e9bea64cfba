"""JSON logs (LOG_FORMAT=json, the production default): one object per line, PII and
secrets masked everywhere in it, and the request / conversation / reply ids on every line
of a request or a task, carried through Celery."""

import copy
import io
import json
import logging
import logging.config
import os
import time
import uuid

import httpx
import pytest
from django.conf import settings

from accounts.services import api_token_create
from chatbot.moderation.log_masking import PIIMaskingFilter
from chatbot.platform import log_context
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.stub_llm import Error

PII = "jane.doe@example.com +86 138 0013 8000 4111 1111 1111 1111"
RAW = ("jane.doe@example.com", "138 0013 8000", "4111 1111")


@pytest.fixture
def json_console():
    """LOGGING's console handler with LOGGING's json formatter, writing into a buffer."""
    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, PIIMaskingFilter) for f in h.filters)
    )
    configurator = logging.config.DictConfigurator(copy.deepcopy(settings.LOGGING))
    formatter = configurator.configure_formatter(
        copy.deepcopy(settings.LOGGING["formatters"]["json"])
    )
    buffer = io.StringIO()
    old_stream, old_formatter = handler.setStream(buffer), handler.formatter
    handler.setFormatter(formatter)
    yield buffer
    handler.setStream(old_stream)
    handler.setFormatter(old_formatter)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_lines_are_masked_message_traceback_and_extra_fields(json_console):
    logger = logging.getLogger("chatbot.anything")
    with log_context.fresh(request_id="req-1", conversation_id="c-1", reply_id="r-1"):
        logger.warning("customer wrote %s", PII, extra={"note": f"extra {PII}"})
        try:
            raise ValueError(f"token=supersecretvalue123 {PII}")
        except ValueError:
            logger.exception("failed")
    out = json_console.getvalue()
    for raw in (*RAW, "supersecretvalue123"):
        assert raw not in out
    first, second = lines(json_console)
    assert first["message"] == "customer wrote [email] [phone] [card]"
    assert first["note"] == "extra [email] [phone] [card]"
    assert (first["level"], first["logger"]) == ("WARNING", "chatbot.anything")
    assert (first["request_id"], first["conversation_id"], first["reply_id"]) == (
        "req-1",
        "c-1",
        "r-1",
    )
    assert "ValueError: token=[secret]" in second["exc_info"]


@pytest.mark.django_db
def test_a_request_id_is_accepted_echoed_and_on_the_requests_log_lines(client, json_console):
    response = client.get("/no-such-page", HTTP_X_REQUEST_ID="abc-123")
    assert response["X-Request-ID"] == "abc-123"
    (line,) = [r for r in lines(json_console) if r["logger"] == "django.request"]
    assert line["request_id"] == "abc-123"
    # Not an id (log injection): replaced by a generated one.
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id\nINFO forged")
    assert len(response["X-Request-ID"]) == 32 and "\n" not in response["X-Request-ID"]


@pytest.fixture
def worker_env(worker_env):
    return {**worker_env, "LOG_FORMAT": "json"}


def test_the_request_id_reaches_the_workers_log_lines(asgi_server, llm_stub, start_worker):
    """POST with X-Request-ID → the reply task's lines in the worker carry it, with the
    conversation and reply ids."""
    llm_stub.script(Error(status=400))  # the pipeline logs a warning for a failed reply
    user = UserFactory()
    conversation = Conversation.objects.create(customer=user)
    request_id = f"req-{uuid.uuid4().hex[:12]}"
    response = httpx.post(
        f"{asgi_server.url}/api/v1/conversations/{conversation.id}/messages/",
        json={"content": "Where is my parcel? My email is jane.doe@example.com"},
        headers={
            "Authorization": f"Bearer {api_token_create(user=user)}",
            "X-Request-ID": request_id,
        },
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Request-ID"] == request_id
    reply_id = response.json()["reply"]["id"]
    deadline = time.monotonic() + 30
    while Message.objects.get(pk=reply_id).status != "failed" and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    worker_log = asgi_server.log_path.parent / f"worker-w1-{os.getpid()}.log"
    records = []
    for line in worker_log.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # Celery's start-up banner is printed, not logged
    ours = [r for r in records if r.get("request_id") == request_id]
    assert any(
        r["message"].startswith(f"reply {reply_id} failed")
        and (r["conversation_id"], r["reply_id"]) == (str(conversation.id), reply_id)
        for r in ours
    ), ours
    assert "jane.doe@example.com" not in worker_log.read_text()
