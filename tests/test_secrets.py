"""Secrets never leave: not through any admin page, any API response, or the logs."""

import io
import logging
import logging.config

import pytest
from django.contrib import admin
from django.core import checks
from django.urls import reverse

from accounts.checks import admin_shows_no_secrets
from accounts.models import ApiToken, ModelPreference, WidgetKey
from accounts.services import api_token_create, widget_key_rotate_identity_secret
from chatbot.models import LLMEndpoint
from chatbot.routing.services import llm_endpoint_set_api_key
from tests.conftest import client_for
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

RAW_PROVIDER_KEY = "sk-live-provider-key-0123456789abcdef"


@pytest.fixture
def secrets_world(client):
    customer = UserFactory()
    raw_token = api_token_create(user=customer)
    ModelPreference.objects.create(user=customer, model="gpt-x")
    conversation = ConversationFactory(customer=customer)
    MessageFactory(conversation=conversation)
    widget_key = WidgetKey.objects.create(name="Shop")
    raw_identity = widget_key_rotate_identity_secret(widget_key=widget_key)
    endpoint = llm_endpoint_set_api_key(
        endpoint=LLMEndpoint.objects.create(name="main"), api_key=RAW_PROVIDER_KEY
    )
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    widget_key.refresh_from_db()
    endpoint.refresh_from_db()
    secrets = {
        "raw api token": raw_token,
        "token hash": ApiToken.objects.get(user=customer).token_hash,
        "raw identity secret": raw_identity,
        "encrypted identity secret": widget_key.identity_secret_encrypted,
        "raw provider key": RAW_PROVIDER_KEY,
        "encrypted provider key": endpoint.api_key_encrypted,
        "password hash": customer.password.split("$")[-1],
    }
    assert all(secrets.values())
    return {
        "customer": customer,
        "conversation": conversation,
        "staff_client": client,
        "secrets": secrets,
        "raw_token": raw_token,
    }


def _assert_clean(content: bytes, secrets: dict, where: str, allow: tuple = ()):
    text = content.decode(errors="replace")
    for name, value in secrets.items():
        if name not in allow:
            assert value not in text, f"{name} appears in {where}"


def test_no_admin_page_shows_a_secret(secrets_world):
    client, secrets = secrets_world["staff_client"], secrets_world["secrets"]
    pages = 0
    for model, _model_admin in admin.site._registry.items():
        info = f"{model._meta.app_label}_{model._meta.model_name}"
        changelist = client.get(reverse(f"admin:{info}_changelist"))
        assert changelist.status_code == 200, info
        _assert_clean(changelist.content, secrets, f"{info} list")
        for obj in model._default_manager.all()[:3]:
            page = client.get(reverse(f"admin:{info}_change", args=[obj.pk]))
            assert page.status_code == 200, (info, obj.pk)
            _assert_clean(page.content, secrets, f"{info} change page")
            pages += 1
    assert pages >= 5


def test_no_api_response_returns_a_secret(secrets_world, api_client):
    secrets = secrets_world["secrets"]
    client = client_for(secrets_world["customer"])
    conv = secrets_world["conversation"].pk
    for path in [
        "/api/v1/conversations/",
        f"/api/v1/conversations/{conv}/",
        f"/api/v1/conversations/{conv}/messages/",
        "/api/v1/me/export/",
        "/api/v1/schema/",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_clean(response.content, secrets, path)
    # A widget session returns its own new token once, and nothing else secret.
    key = WidgetKey.objects.get(name="Shop")
    response = api_client.post(
        "/api/v1/widget/sessions/", {"widget_key": key.public_key}, format="json"
    )
    assert response.status_code == 201
    _assert_clean(response.content, secrets, "widget session")
    stored = ApiToken.objects.get(token_hash=ApiToken.hash(response.json()["token"]))
    assert stored.token_hash not in response.content.decode()


def test_system_check_flags_an_admin_that_shows_a_secret(monkeypatch):
    assert [e for e in checks.run_checks() if e.id == "chatdesk.E001"] == []
    token_admin = admin.site._registry[ApiToken]
    monkeypatch.setattr(token_admin, "list_display", [*token_admin.list_display, "token_hash"])
    errors = admin_shows_no_secrets(None)
    assert [e.id for e in errors] == ["chatdesk.E001"] and "token_hash" in errors[0].msg


def test_logs_mask_our_secret_formats(settings):
    """The project's LOGGING (its console handler's filters) masks every credential format
    we issue, in messages and in tracebacks."""
    config = {**settings.LOGGING, "disable_existing_loggers": False}
    stream = io.StringIO()
    config["handlers"] = {
        "console": {
            **settings.LOGGING["handlers"]["console"],
            "class": "logging.StreamHandler",
            "stream": stream,
        }
    }
    config["root"] = {"handlers": ["console"], "level": "INFO"}
    config["loggers"] = {}
    raw_token = ApiToken.generate()
    identity = "wks_" + "Ab3_-x" * 6
    try:
        logging.config.dictConfig(config)
        log = logging.getLogger("chatdesk.secret-test")
        log.info("auth header Bearer %s", raw_token)
        log.warning("token=%s identity=%s key %s", raw_token, identity, RAW_PROVIDER_KEY)
        try:
            raise ValueError(f"bad key {RAW_PROVIDER_KEY}")
        except ValueError:
            log.exception("provider failed")
    finally:
        logging.config.dictConfig(settings.LOGGING)
    output = stream.getvalue()
    assert "provider failed" in output and "Bearer" in output
    for value in (raw_token, identity, RAW_PROVIDER_KEY):
        assert value not in output
