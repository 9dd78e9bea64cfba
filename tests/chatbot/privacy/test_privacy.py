"""GDPR export and erasure (API and admin), the audit trail, on real Postgres and Redis."""

import json
import uuid

import pytest
import redis
from django import forms
from django.db import models

from accounts.models import ApiToken, AuditEvent, ErasureRecord, ModelPreference, User
from chatbot.models import ProviderCall
from chatbot.platform.event_bus import get_event_bus
from chatbot.privacy.selectors import SECRET_FIELD
from conversations.models import Conversation, Message, ModerationFlag
from tests.conftest import client_for
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    ProviderCallFactory,
    UserFactory,
    VisitorFactory,
)

pytestmark = pytest.mark.django_db


def _customer_with_data(**user_kwargs):
    user = UserFactory(**user_kwargs)
    ModelPreference.objects.create(user=user, model="gpt-shop", persona="Acme Shoes")
    conversation = ConversationFactory(customer=user, title="Parcel")
    question = MessageFactory(conversation=conversation, content="My address is 1 Elm St")
    reply = MessageFactory(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        content="Thanks!",
        reply_to=question,
        prompt_tokens=10,
        completion_tokens=3,
    )
    ModerationFlag.objects.create(
        message=question,
        source="input",
        categories=["pii"],
        action="flagged",
        note="customer shared an address",
    )
    ProviderCallFactory(reply=reply, customer=user, model="gpt-shop")
    return user, conversation, question, reply


def _all_strings(value):
    if isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _all_strings(v)
    else:
        yield str(value)


class TestExport:
    def test_export_holds_everything_about_the_caller_and_nothing_secret(self):
        user, conversation, _question, _reply = _customer_with_data()
        client = client_for(user)
        other = _customer_with_data()[0]

        response = client.get("/api/v1/me/export/")

        assert response.status_code == 200
        assert response["Cache-Control"] == "no-store"
        doc = response.json()
        assert doc["format"] == "chatdesk.export/1"
        assert doc["profile"]["id"] == str(user.pk)
        assert doc["profile"]["email"] == user.email
        assert doc["model_preference"]["model"] == "gpt-shop"
        assert len(doc["api_tokens"]) == 1
        [conv] = doc["conversations"]
        assert conv["id"] == str(conversation.pk) and conv["title"] == "Parcel"
        assert [m["content"] for m in conv["messages"]] == ["My address is 1 Elm St", "Thanks!"]
        assert conv["messages"][0]["moderation_flags"][0]["categories"] == ["pii"]
        # The usage ledger is found through the model relations (no explicit section).
        calls = doc["related"]["chatbot.providercall"]
        assert len(calls) == 1 and calls[0]["prompt_tokens"] == 10
        # Nothing secret, nobody else.
        text = json.dumps(doc)
        token_hash = ApiToken.objects.get(user=user).token_hash
        assert token_hash not in text and user.password not in text
        assert "claim_token" not in text and "password" not in text
        assert str(other.pk) not in text and other.email not in text

    def test_export_is_json_serialisable_for_a_visitor_without_data(self):
        visitor = VisitorFactory()
        doc = client_for(visitor).get("/api/v1/me/export/").json()
        assert doc["conversations"] == [] and doc["model_preference"] is None
        assert doc["profile"]["is_visitor"] is True


class TestErase:
    def test_erase_requires_confirmation(self):
        user, *_ = _customer_with_data()
        client = client_for(user)
        for body in ({}, {"confirm": "yes"}):
            response = client.post("/api/v1/me/erase/", body, format="json")
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "validation_error"
        assert User.objects.filter(pk=user.pk).exists()

    def test_erase_leaves_no_redis_key_named_after_the_user(
        self, django_capture_on_commit_callbacks, settings
    ):
        """Before: rate-limit counters such as `throttle_chat_user_<id>` outlived the user."""
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {
                **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                "chat_user": "100/minute",
                "privacy": "100/minute",
            },
        }
        user, conversation, *_ = _customer_with_data()
        client = client_for(user)
        client.post("/api/v1/conversations/", {"title": "More"}, format="json")
        client.patch(f"/api/v1/conversations/{conversation.pk}/", {"title": "x"}, format="json")
        client.get("/api/v1/me/export/")
        redis_db = redis.Redis.from_url(settings.REDIS_URL)

        def keys_naming_the_user() -> list[bytes]:
            return list(redis_db.scan_iter(match=f"*{user.pk}*", count=1000))

        assert keys_naming_the_user(), "the throttles should have counted this user"

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/me/erase/", {"confirm": "erase"}, format="json")

        assert response.status_code == 200, response.content
        assert keys_naming_the_user() == []

    def test_erase_removes_everything_and_leaves_an_anonymous_record(
        self, django_capture_on_commit_callbacks
    ):
        user, conversation, question, _reply = _customer_with_data()
        other, other_conv, *_ = _customer_with_data()
        bus = get_event_bus()
        bus.publish(str(conversation.pk), "message", {"content": "hello"})
        bus.publish(str(other_conv.pk), "message", {"content": "other"})
        AuditEvent.objects.create(
            action="transcript.view", target_type="conversation", target_id=str(conversation.pk)
        )
        client = client_for(user)

        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("/api/v1/me/erase/", {"confirm": "erase"}, format="json")

        assert response.status_code == 200, response.content
        body = response.json()
        assert not User.objects.filter(pk=user.pk).exists()
        assert not Conversation.objects.filter(pk=conversation.pk).exists()
        assert not Message.objects.filter(conversation_id=conversation.pk).exists()
        assert not ModerationFlag.objects.filter(message_id=question.pk).exists()
        assert not ApiToken.objects.filter(user_id=user.pk).exists()
        assert not ModelPreference.objects.filter(user_id=user.pk).exists()
        # Usage survives as an anonymous row.
        call = ProviderCall.objects.get(model="gpt-shop", prompt_tokens=10, customer=None)
        assert call.reply_id is None
        # Live events gone (after commit), the other customer's untouched.
        redis = bus._sync
        assert not redis.exists(f"chatdesk:events:{conversation.pk}")
        assert redis.exists(f"chatdesk:events:{other_conv.pk}")
        # The record: counts, a random id, no personal data.
        record = ErasureRecord.objects.get(pk=body["erasure_id"])
        assert record.route == "self_service"
        assert record.counts["deleted"]["conversations.Message"] == 2
        assert record.counts["deleted"]["conversations.Conversation"] == 1
        assert record.counts["detached"] == {"chatbot.ProviderCall": 1}
        leftovers = json.dumps([record.counts, list(AuditEvent.objects.values())], default=str)
        for personal in (str(user.pk), user.username, user.email, str(conversation.pk)):
            assert personal not in leftovers
        assert AuditEvent.objects.filter(target_id=f"erasure:{record.pk}").count() == 1
        # The other customer keeps everything, and the old token no longer works.
        assert Conversation.objects.filter(pk=other_conv.pk).exists()
        assert other.conversations.count() == 1
        assert client.get("/api/v1/me/export/").status_code == 401

    def test_staff_cannot_erase_themselves_through_the_api(self):
        staff = UserFactory(is_staff=True)
        response = client_for(staff).post("/api/v1/me/erase/", {"confirm": "erase"}, format="json")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "erasure_not_allowed"
        assert User.objects.filter(pk=staff.pk).exists()


def test_every_relation_to_personal_data_lets_an_erasure_through():
    """A new model pointing at a user, conversation or message must CASCADE or SET_NULL,
    or an erasure would fail (PROTECT) or leave dangling rows (DO_NOTHING)."""
    allowed = {models.CASCADE, models.SET_NULL}
    for model in (User, Conversation, Message):
        for rel in model._meta.get_fields(include_hidden=True):
            if rel.auto_created and not rel.concrete and rel.one_to_many | rel.one_to_one:
                assert rel.on_delete in allowed, (
                    f"{rel.related_model._meta.label}.{rel.field.name} -> {model.__name__}"
                    f" uses {rel.on_delete.__name__}"
                )


def test_secret_field_pattern_covers_the_stored_secrets():
    for name in (
        "password",
        "token_hash",
        "identity_secret_encrypted",
        "api_key_encrypted",
        "claim_token",
    ):
        assert SECRET_FIELD.search(name)


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    client.staff = staff
    return client


class TestAdmin:
    def test_staff_export_downloads_json_and_is_audited(self, staff_client):
        user, _conversation, *_ = _customer_with_data()
        response = staff_client.post(
            "/admin/accounts/user/",
            {"action": "export_user_data", "_selected_action": [str(user.pk)]},
        )
        assert response.status_code == 200
        assert response["Content-Disposition"].startswith("attachment;")
        doc = json.loads(response.content)
        assert doc["profile"]["id"] == str(user.pk)
        event = AuditEvent.objects.get(action="user.export")
        assert event.actor == staff_client.staff and event.target_id == str(user.pk)

    def test_staff_erasure_asks_for_confirmation_then_erases(self, staff_client):
        user, _conversation, *_ = _customer_with_data()
        form = {"action": "erase_user_data", "_selected_action": [str(user.pk)]}
        page = staff_client.post("/admin/accounts/user/", form)
        assert page.status_code == 200
        assert b"Yes, erase permanently" in page.content and b"My address" not in page.content
        assert User.objects.filter(pk=user.pk).exists()  # nothing happened yet

        done = staff_client.post("/admin/accounts/user/", {**form, "post": "yes"})
        assert done.status_code == 302
        assert not User.objects.filter(pk=user.pk).exists()
        record = ErasureRecord.objects.get()
        assert record.route == "staff"
        event = AuditEvent.objects.get(action="user.erase")
        assert event.actor == staff_client.staff
        assert event.target_type == "erasure" and event.target_id == str(record.pk)

    def test_staff_accounts_are_not_erased_from_the_admin(self, staff_client):
        other_staff = UserFactory(is_staff=True)
        staff_client.post(
            "/admin/accounts/user/",
            {"action": "erase_user_data", "_selected_action": [str(other_staff.pk)], "post": "yes"},
        )
        assert User.objects.filter(pk=other_staff.pk).exists()
        assert not ErasureRecord.objects.exists()

    def test_viewing_a_transcript_is_audited_without_its_content(self, staff_client):
        _user, conversation, *_ = _customer_with_data()
        response = staff_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
        assert response.status_code == 200 and b"My address is 1 Elm St" in response.content
        event = AuditEvent.objects.get(action="transcript.view")
        assert event.actor == staff_client.staff
        assert (event.target_type, event.target_id) == ("conversation", str(conversation.pk))
        assert "Elm" not in json.dumps(event.detail)

    def test_changing_a_model_preference_is_audited_with_field_names_only(self, staff_client):
        user, *_ = _customer_with_data()
        page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/")
        form = page.context["adminform"].form
        data = {
            k: v
            for k, v in form.initial.items()
            if v is not None and k not in ("password", "groups", "user_permissions")
        }
        data.update(
            {
                "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
                "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
            }
        )
        data.pop("date_joined", None)
        data.pop("last_login", None)
        for formset in page.context["inline_admin_formsets"]:
            fs = formset.formset
            data.update({f"{fs.prefix}-{k}": v for k, v in fs.management_form.initial.items()})
            for i, f in enumerate(fs.forms):
                for name, field in f.fields.items():
                    value = f.initial.get(name, field.initial)
                    if name == "id" and f.instance.pk:
                        value = f.instance.pk
                    if name == "user":
                        value = user.pk
                    if isinstance(field, forms.ModelMultipleChoiceField):
                        value = [getattr(v, "pk", v) for v in value or []]
                    elif isinstance(field, forms.JSONField):
                        value = json.dumps(value)
                    if value is not None:
                        data[f"{fs.prefix}-{i}-{name}"] = value
                data[f"{fs.prefix}-0-persona"] = "Secret persona quoting the customer"
                data[f"{fs.prefix}-0-model"] = "gpt-other"
        response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
        assert response.status_code == 302, (
            response.context["adminform"].form.errors if response.context else response
        )
        assert ModelPreference.objects.get(user=user).model == "gpt-other"
        event = AuditEvent.objects.get(action="preference.change")
        assert event.target_id == str(user.pk)
        assert set(event.detail["fields"]) >= {"model", "persona"}
        assert "Secret persona" not in json.dumps(event.detail)

    def test_audit_log_is_read_only_in_the_admin(self, staff_client):
        event = AuditEvent.objects.create(
            action="user.export", target_type="user", target_id=str(uuid.uuid4())
        )
        assert staff_client.get("/admin/accounts/auditevent/").status_code == 200
        page = staff_client.get(f"/admin/accounts/auditevent/{event.pk}/change/")
        assert page.status_code == 200 and b'name="_save"' not in page.content
        assert staff_client.get("/admin/accounts/auditevent/add/").status_code == 403
        assert (
            staff_client.post(
                f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}
            ).status_code
            == 403
        )
        assert AuditEvent.objects.filter(pk=event.pk).exists()
