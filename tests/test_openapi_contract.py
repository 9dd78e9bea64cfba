"""The OpenAPI schema tells the truth: schemathesis fuzzes every operation of
`/api/v1/schema/` against the app under uvicorn, authenticated with a real token, and must
find no server error and no response that disagrees with the schema (status code, content
type, headers, body). Bounded for a small CI machine: few examples per operation, one run.

`POST /me/erase/` is left out: a generated `{"confirm": "erase"}` would erase the very
customer whose token the run uses (its behaviour is covered in tests/chatbot/privacy).
"""

import os
import re
import subprocess
import sys
import time

import pytest

from accounts.services import api_token_create
from tests.factories import ConversationFactory, UserFactory
from tests.servers import AsgiServer
from tests.workers import ROOT

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
TIME_BUDGET_SECONDS = 300

pytestmark = pytest.mark.timeout(TIME_BUDGET_SECONDS + 120)


@pytest.fixture
def api_server(transactional_db, worker_env, artifacts_dir):
    env = {
        **worker_env,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Limits raised for the run: a 429 would be correct, but hides the endpoint's answer.
        "RATE_LIMIT_USER": "100000/minute",
        "RATE_LIMIT_WIDGET_KEY": "100000/minute",
        "RATE_LIMIT_WIDGET_SESSIONS": "100000/minute",
        "PRIVACY_RATE_LIMIT": "100000/hour",
        # An SSE stream for a real conversation ends quickly instead of after 10 minutes.
        "SSE_MAX_STREAM_SECONDS": "1",
        "SSE_HEARTBEAT_SECONDS": "0.5",
    }
    server = AsgiServer(env, artifacts_dir).start(timeout=120)
    yield server
    server.stop()


def test_schemathesis_finds_no_server_error_and_no_schema_violation(api_server, artifacts_dir):
    customer = UserFactory()
    ConversationFactory(customer=customer)
    token = api_token_create(user=customer)
    report = artifacts_dir / "schemathesis-junit.xml"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(ROOT / "tests" / "schemathesis.toml"),
        "run",
        f"{api_server.url}/api/v1/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--request-timeout",
        "10",
        "--seed",
        "20261201",
        "--exclude-path",
        "/api/v1/me/erase/",
        "--report",
        "junit",
        "--report-junit-path",
        str(report),
        "--no-color",
    ]
    started = time.monotonic()
    run = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIME_BUDGET_SECONDS,
        env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
    )
    elapsed = time.monotonic() - started
    output = run.stdout + run.stderr
    (artifacts_dir / "schemathesis.log").write_text(output)
    summary = re.findall(r"^.*(?:passed|failed|errored|skipped).*$", output, re.M)
    print(f"\nschemathesis: {elapsed:.0f}s; " + " | ".join(summary[-3:]))
    assert run.returncode == 0, output[-6000:]


# --- The schema's content, without a server -------------------------------------------------


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _response_schema(schema, path, method, status):
    return schema["paths"][path][method]["responses"][status]["content"]


def test_the_message_list_is_documented_as_it_answers(schema):
    path = "/api/v1/conversations/{id}/messages/"
    ref = _response_schema(schema, path, "get", "200")["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"results", "has_more"}
    names = {p["name"] for p in schema["paths"][path]["get"]["parameters"]}
    assert {"after", "limit"} <= names and not {"offset", "count"} & names


def test_error_responses_are_documented_with_the_error_shape(schema):
    error = {"$ref": "#/components/schemas/Error"}
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    send = "/api/v1/conversations/{id}/messages/"
    for status in ("400", "401", "404", "409", "413", "429"):
        assert _response_schema(schema, send, "post", status)["application/json"]["schema"] == error
    for status in ("400", "401", "429"):
        content = _response_schema(schema, "/api/v1/conversations/", "get", status)
        assert content["application/json"]["schema"] == error


def test_the_sse_endpoint_is_documented_as_an_event_stream(schema):
    operation = schema["paths"]["/api/v1/conversations/{conversation_id}/events/"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert {"400", "401", "404"} <= set(operation["responses"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query", ["limit=abc", "limit=0", "limit=501", "limit=", "offset=-1", "offset=x", "offset="]
)
def test_a_bad_limit_or_offset_on_the_conversation_list_is_a_400(customer_client, query):
    response = customer_client.get(f"/api/v1/conversations/?{query}")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and query.split("=")[0] in error["fields"]


@pytest.mark.django_db
def test_good_limit_and_offset_still_page(customer, customer_client):
    for _ in range(3):
        ConversationFactory(customer=customer)
    body = customer_client.get("/api/v1/conversations/?limit=2&offset=1").json()
    assert body["count"] == 3 and len(body["results"]) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"title": 0}, {"title": 1.5}, {"title": True}, {"title": ["a"]}])
def test_a_number_where_text_belongs_is_a_400(customer_client, body):
    response = customer_client.post("/api/v1/conversations/", body, format="json")
    assert response.status_code == 400 and "title" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_an_empty_after_is_a_400_not_the_first_page(customer, customer_client):
    conversation = ConversationFactory(customer=customer)
    response = customer_client.get(f"/api/v1/conversations/{conversation.id}/messages/?after=")
    assert response.status_code == 400 and "after" in response.json()["error"]["fields"]
