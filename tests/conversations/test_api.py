"""The customer chat API: the turn, idempotency, isolation and bad input.

Tasks run eagerly here with the offline responder; the worker tests cover the real queue."""

import json
import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db


def _send(client, conversation_id, content="Where is my parcel?", **extra):
    body = {"content": content, **extra}
    return client.post(f"/api/v1/conversations/{conversation_id}/messages/", body, format="json")


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


class TestWidgetSession:
    def test_widget_key_buys_a_visitor_token_that_authenticates(self, api_client, widget_key):
        response = api_client.post(
            "/api/v1/widget/sessions/",
            {"widget_key": widget_key.public_key},
            format="json",
            HTTP_ORIGIN="https://shop.example.com",
        )
        assert response.status_code == 201
        token = response.json()["token"]
        assert response.json()["customer"]["identified"] is False
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        assert api_client.get("/api/v1/conversations/").status_code == 200

    def test_session_tells_the_widget_the_message_length_limit(
        self, api_client, widget_key, settings
    ):
        settings.CHAT_MAX_MESSAGE_CHARS = 1234
        response = api_client.post(
            "/api/v1/widget/sessions/", {"widget_key": widget_key.public_key}, format="json"
        )
        assert response.status_code == 201
        assert response.json()["max_message_chars"] == 1234

    def test_token_is_stored_only_as_a_hash(self, api_client, widget_key):
        from accounts.models import ApiToken

        token = api_client.post(
            "/api/v1/widget/sessions/", {"widget_key": widget_key.public_key}, format="json"
        ).json()["token"]
        stored = ApiToken.objects.get()
        assert token not in stored.token_hash and stored.token_hash == ApiToken.hash(token)

    def test_unknown_widget_key_is_404(self, api_client):
        response = api_client.post(
            "/api/v1/widget/sessions/", {"widget_key": "wk_nope"}, format="json"
        )
        assert_error(response, 404, "widget_key_invalid")

    def test_inactive_widget_key_is_refused(self, api_client, widget_key):
        widget_key.is_active = False
        widget_key.save()
        response = api_client.post(
            "/api/v1/widget/sessions/", {"widget_key": widget_key.public_key}, format="json"
        )
        assert_error(response, 404, "widget_key_invalid")

    def test_disallowed_origin_is_refused(self, api_client, widget_key):
        response = api_client.post(
            "/api/v1/widget/sessions/",
            {"widget_key": widget_key.public_key},
            format="json",
            HTTP_ORIGIN="https://evil.example.net",
        )
        assert_error(response, 403, "origin_not_allowed")

    def test_preflight_origins_are_cached_until_a_key_changes(
        self,
        client,
        widget_key,
        django_assert_num_queries,
        django_capture_on_commit_callbacks,
    ):
        def preflight():
            response = client.options(
                "/api/v1/widget/sessions/",
                HTTP_ORIGIN="https://shop.example.com",
                HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            )
            return response.headers.get("Access-Control-Allow-Origin")

        with django_assert_num_queries(1):  # the active keys' origins, once
            assert preflight() == "https://shop.example.com"
        with django_assert_num_queries(0):
            assert preflight() == "https://shop.example.com"
        with django_capture_on_commit_callbacks(execute=True):
            widget_key.is_active = False  # turned off: its site may no longer call
            widget_key.save()
        assert preflight() is None

    def test_missing_widget_key_is_a_validation_error(self, api_client):
        error = assert_error(
            api_client.post("/api/v1/widget/sessions/", {}, format="json"), 400, "validation_error"
        )
        assert "widget_key" in error["fields"]

    def test_bad_bearer_token_is_401(self, api_client):
        api_client.credentials(HTTP_AUTHORIZATION="Bearer cdt_not-a-real-token")
        assert_error(api_client.get("/api/v1/conversations/"), 401, "authentication_failed")

    def test_no_credentials_is_401(self, api_client):
        assert_error(api_client.get("/api/v1/conversations/"), 401, "not_authenticated")

    def test_session_login_works_for_site_users(self, api_client, customer):
        api_client.force_login(customer)
        assert api_client.get("/api/v1/conversations/").status_code == 200


class TestTurn:
    def test_send_answers_202_with_message_and_pending_reply_then_reply_completes(
        self, customer_client, django_capture_on_commit_callbacks
    ):
        conversation_id = customer_client.post("/api/v1/conversations/", {}, format="json").json()[
            "id"
        ]
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            response = _send(customer_client, conversation_id, "Hello, I need help")
        assert response.status_code == 202
        body = response.json()
        assert body["message"]["role"] == "user"
        assert body["message"]["content"] == "Hello, I need help"
        assert body["reply"]["status"] == "pending"
        assert body["reply"]["reply_to"] == body["message"]["id"]
        assert len(callbacks) == 1  # the task is enqueued only once the transaction commits

        callbacks[0]()  # eager: the offline responder answers
        listing = customer_client.get(f"/api/v1/conversations/{conversation_id}/messages/")
        reply = listing.json()["results"][1]
        assert reply["status"] == "completed"
        assert reply["model"] == "offline-responder"
        assert "offline demo responder" in reply["content"]
        assert "Hello, I need help" in reply["content"]
        assert reply["prompt_tokens"] > 0 and reply["completion_tokens"] > 0

    def test_conversation_list_is_by_recency_and_detail_works(self, customer, customer_client):
        older = ConversationFactory(customer=customer)
        newer = ConversationFactory(customer=customer)
        _send(customer_client, older.id)  # activity moves it to the top
        ids = [c["id"] for c in customer_client.get("/api/v1/conversations/").json()["results"]]
        assert ids == [str(older.id), str(newer.id)]
        detail = customer_client.get(f"/api/v1/conversations/{newer.id}/")
        assert detail.status_code == 200 and detail.json()["status"] == "open"

    def test_polling_with_after_returns_only_later_messages(self, customer, customer_client):
        conversation = ConversationFactory(customer=customer)
        first = _send(customer_client, conversation.id, "one").json()
        _send(customer_client, conversation.id, "two")
        url = f"/api/v1/conversations/{conversation.id}/messages/"
        later = customer_client.get(url, {"after": first["reply"]["id"]}).json()["results"]
        assert [m["content"] for m in later if m["role"] == "user"] == ["two"]
        assert len(later) == 2

    def test_limit_and_has_more(self, customer, customer_client):
        conversation = ConversationFactory(customer=customer)
        for i in range(3):
            MessageFactory(conversation=conversation, content=f"m{i}")
        url = f"/api/v1/conversations/{conversation.id}/messages/"
        page = customer_client.get(url, {"limit": 2}).json()
        assert [m["content"] for m in page["results"]] == ["m0", "m1"] and page["has_more"]

    def test_message_list_query_count_is_constant(
        self, customer, customer_client, django_assert_max_num_queries
    ):
        conversation = ConversationFactory(customer=customer)
        for _ in range(30):
            MessageFactory(conversation=conversation)
        with django_assert_max_num_queries(4):
            customer_client.get(f"/api/v1/conversations/{conversation.id}/messages/")


class TestIdempotency:
    def test_resending_the_same_client_message_id_creates_nothing(self, customer, customer_client):
        conversation = ConversationFactory(customer=customer)
        first = _send(customer_client, conversation.id, "refund?", client_message_id="c-1")
        again = _send(customer_client, conversation.id, "refund?", client_message_id="c-1")
        assert first.status_code == again.status_code == 202
        assert again["Idempotent-Replayed"] == "true"
        assert again.json()["message"]["id"] == first.json()["message"]["id"]
        assert again.json()["reply"]["id"] == first.json()["reply"]["id"]
        assert Message.objects.filter(conversation=conversation).count() == 2

    def test_same_client_id_in_another_conversation_is_a_new_message(
        self, customer, customer_client
    ):
        a, b = ConversationFactory(customer=customer), ConversationFactory(customer=customer)
        _send(customer_client, a.id, client_message_id="same")
        response = _send(customer_client, b.id, client_message_id="same")
        assert response.status_code == 202 and "Idempotent-Replayed" not in response
        assert Message.objects.count() == 4


class TestIsolation:
    """Another customer's conversation is a 404 on every endpoint and verb."""

    @pytest.fixture
    def foreign(self, db):
        conversation = ConversationFactory(customer=UserFactory())
        MessageFactory(conversation=conversation, content="private order #123")
        return conversation

    @pytest.mark.parametrize(
        "method,suffix,body",
        [
            ("get", "", None),
            ("get", "messages/", None),
            ("post", "messages/", {"content": "let me in"}),
            ("patch", "", {"title": "mine now"}),
            ("post", "close/", None),
        ],
    )
    def test_foreign_conversation_is_404(self, customer_client, foreign, method, suffix, body):
        url = f"/api/v1/conversations/{foreign.id}/{suffix}"
        response = getattr(customer_client, method)(url, body, format="json")
        assert_error(response, 404, "not_found")
        foreign.refresh_from_db()
        assert foreign.title == "" and foreign.status == "open"
        assert Message.objects.filter(conversation=foreign).count() == 1

    @pytest.mark.parametrize("method", ["put", "delete"])
    def test_unsupported_verbs_answer_the_same_for_own_and_foreign(
        self, customer, customer_client, foreign, method
    ):
        own = ConversationFactory(customer=customer)
        for conversation in (own, foreign):
            response = getattr(customer_client, method)(
                f"/api/v1/conversations/{conversation.id}/", {}, format="json"
            )
            assert_error(response, 405, "method_not_allowed")

    def test_owner_can_rename_and_close(self, customer, customer_client):
        own = ConversationFactory(customer=customer)
        url = f"/api/v1/conversations/{own.id}/"
        assert (
            customer_client.patch(url, {"title": "Refund"}, format="json").json()["title"]
            == "Refund"
        )
        assert customer_client.post(url + "close/").json()["status"] == "closed"

    def test_foreign_conversations_are_not_listed(self, customer_client, foreign):
        assert customer_client.get("/api/v1/conversations/").json()["results"] == []

    def test_another_visitor_cannot_read_mine(self, visitor):
        mine = ConversationFactory(customer=visitor)
        other = client_for(UserFactory(is_visitor=True, username="visitor-other"))
        assert other.get(f"/api/v1/conversations/{mine.id}/messages/").status_code == 404


class TestBadInput:
    @pytest.fixture
    def conversation(self, customer):
        return ConversationFactory(customer=customer)

    @pytest.mark.parametrize("content", ["", "   ", None])
    def test_empty_content(self, customer_client, conversation, content):
        error = assert_error(
            _send(customer_client, conversation.id, content), 400, "validation_error"
        )
        assert "content" in error["fields"]
        assert not Message.objects.exists()

    def test_missing_content(self, customer_client, conversation):
        response = customer_client.post(
            f"/api/v1/conversations/{conversation.id}/messages/", {}, format="json"
        )
        assert "content" in assert_error(response, 400, "validation_error")["fields"]

    def test_over_long_content(self, customer_client, conversation):
        error = assert_error(
            _send(customer_client, conversation.id, "x" * 4001), 400, "validation_error"
        )
        assert "4000" in error["fields"]["content"][0]

    @override_settings(CHAT_MAX_MESSAGE_CHARS=10)
    def test_length_limit_is_configurable(self, customer_client, conversation):
        assert _send(customer_client, conversation.id, "x" * 11).status_code == 400
        assert _send(customer_client, conversation.id, "x" * 10).status_code == 202

    def test_wrong_type_content(self, customer_client, conversation):
        assert_error(
            _send(customer_client, conversation.id, {"nested": 1}), 400, "validation_error"
        )

    def test_over_long_client_message_id(self, customer_client, conversation):
        assert_error(
            _send(customer_client, conversation.id, client_message_id="x" * 65),
            400,
            "validation_error",
        )

    def test_malformed_json(self, customer_client, conversation):
        response = customer_client.generic(
            "POST",
            f"/api/v1/conversations/{conversation.id}/messages/",
            '{"content": "hi',
            content_type="application/json",
        )
        assert_error(response, 400, "malformed_json")

    def test_json_array_instead_of_object(self, customer_client, conversation):
        response = customer_client.generic(
            "POST",
            f"/api/v1/conversations/{conversation.id}/messages/",
            "[1, 2]",
            content_type="application/json",
        )
        assert_error(response, 400, "validation_error")

    def test_form_encoded_body_is_unsupported(self, customer_client, conversation):
        response = customer_client.post(
            f"/api/v1/conversations/{conversation.id}/messages/",
            "content=hi",
            content_type="application/x-www-form-urlencoded",
        )
        assert_error(response, 415, "unsupported_media_type")

    def test_body_over_the_size_limit_is_413(self, customer_client, conversation):
        body = json.dumps({"content": "x" * (70 * 1024)})
        response = customer_client.generic(
            "POST",
            f"/api/v1/conversations/{conversation.id}/messages/",
            body,
            content_type="application/json",
        )
        assert_error(response, 413, "payload_too_large")

    @pytest.mark.parametrize("conversation_id", [uuid.uuid4(), "not-a-uuid", "1"])
    def test_unknown_or_malformed_conversation_id(self, customer_client, conversation_id):
        assert_error(
            customer_client.get(f"/api/v1/conversations/{conversation_id}/"), 404, "not_found"
        )
        assert_error(_send(customer_client, conversation_id), 404, "not_found")

    @pytest.mark.parametrize("after", ["garbage", str(uuid.uuid4())])
    def test_bad_after_cursor(self, customer_client, conversation, after):
        response = customer_client.get(
            f"/api/v1/conversations/{conversation.id}/messages/", {"after": after}
        )
        assert "after" in assert_error(response, 400, "validation_error")["fields"]

    @pytest.mark.parametrize("limit", ["0", "501", "many"])
    def test_bad_limit(self, customer_client, conversation, limit):
        response = customer_client.get(
            f"/api/v1/conversations/{conversation.id}/messages/", {"limit": limit}
        )
        assert_error(response, 400, "validation_error")

    def test_unknown_endpoint_is_json_404(self, customer_client):
        assert_error(customer_client.get("/api/v1/nope/"), 404, "not_found")

    @pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
    @pytest.mark.parametrize("path", ["/api/v1/nope/", "/api/nope", "/api/v2/conversations/"])
    @pytest.mark.parametrize("auth", ["bearer", "session", "none"])
    def test_unknown_endpoint_is_json_404_for_every_method(self, customer, method, path, auth):
        # CSRF checks on, as a browser's session cookie would trigger them.
        client = APIClient(enforce_csrf_checks=True)
        if auth == "bearer":
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=customer)}")
        elif auth == "session":
            client.force_login(customer)
        response = client.generic(method, path, "{}", content_type="application/json")
        assert response.status_code == 404, response.content
        assert response["Content-Type"].startswith("application/json")
        if method != "HEAD":
            assert response.json()["error"]["code"] == "not_found"

    def test_session_client_without_csrf_token_gets_json_403(self, customer):
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(customer)
        response = client.post("/api/v1/conversations/", {}, format="json")
        assert_error(response, 403, "csrf_failed")

    def test_csrf_middleware_failure_under_api_is_json_403(self, customer, rf):
        # A plain Django view under /api/ that is not CSRF-exempt: the middleware's failure
        # view (CSRF_FAILURE_VIEW) answers, in the API's error shape.
        from django.conf import settings
        from django.utils.module_loading import import_string

        view = import_string(settings.CSRF_FAILURE_VIEW)
        response = view(rf.post("/api/v1/anything/"), reason="no token")
        assert response.status_code == 403
        assert json.loads(response.content)["error"]["code"] == "csrf_failed"
        assert not view(rf.post("/admin/"), reason="no token")["Content-Type"].startswith(
            "application/json"
        )

    def test_wrong_verb_is_405(self, customer_client, conversation):
        response = customer_client.delete(f"/api/v1/conversations/{conversation.id}/messages/")
        assert_error(response, 405, "method_not_allowed")

    def test_closed_conversation_refuses_messages(self, customer_client, conversation):
        conversation.status = Conversation.Status.CLOSED
        conversation.save()
        assert_error(_send(customer_client, conversation.id), 409, "conversation_closed")

    def test_server_owned_fields_are_ignored_on_create(self, customer, customer_client):
        other = UserFactory()
        response = customer_client.post(
            "/api/v1/conversations/",
            {"title": "Mine", "status": "closed", "customer": str(other.id)},
            format="json",
        )
        assert response.status_code == 201
        created = Conversation.objects.get(pk=response.json()["id"])
        assert created.customer == customer and created.status == "open"

    def test_server_owned_message_fields_are_ignored(self, customer_client, conversation):
        response = _send(
            customer_client,
            conversation.id,
            "hi",
            role="assistant",
            status="completed",
            prompt_tokens=5,
        )
        assert response.status_code == 202
        assert response.json()["message"]["role"] == "user"
        assert response.json()["reply"]["status"] == "pending"
