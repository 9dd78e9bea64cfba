"""The message POST's light path (conversations.api.message_send_view) answers exactly what
the DRF viewset answers: every outcome is played twice from the same state, once on the
light path (a bearer client's JSON POST) and once through the viewset (the same request
with an `Accept` parameter, which the light path leaves to DRF), and compared.

Bodies are compared whole but for the generated ids and times; statuses and the headers a
client reads (Retry-After, Idempotent-Replayed, Allow, Content-Type) exactly."""

import pytest

from conversations.models import Conversation, Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db

VIEWSET = {"HTTP_ACCEPT": "application/json; q=1"}  # DRF's: the light path hands it over
_GENERATED = {"id", "conversation", "reply_to", "created_at", "completed_at"}
_HEADERS = ["Retry-After", "Idempotent-Replayed", "Allow", "Content-Type"]


def _shape(value):
    if isinstance(value, dict):
        return {
            k: (v is not None) if k in _GENERATED else _shape(v) for k, v in sorted(value.items())
        }
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _answer(response) -> tuple:
    body = response.json() if response.content else None
    return response.status_code, _shape(body), {h: response.get(h) for h in _HEADERS}


def _post(client, conversation_id, body, **extra):
    return client.post(
        f"/api/v1/conversations/{conversation_id}/messages/", body, format="json", **extra
    )


def _both(setup, body=None, *, then=None):
    """Play `setup` twice (fresh rows each time) and POST once on each path."""
    answers = []
    for extra in ({}, VIEWSET):
        customer, conversation_id = setup()
        client = client_for(customer)
        response = _post(
            client, conversation_id, {"content": "Hello"} if body is None else body, **extra
        )
        if then:
            response = then(client, conversation_id, extra)
        answers.append(_answer(response))
    light, viewset = answers
    assert light == viewset
    return light


def _open():
    conversation = ConversationFactory()
    return conversation.customer, conversation.id


def test_a_turn_starts_the_same_way():
    status, body, headers = _both(_open, {"content": "  Hello  ", "client_message_id": "c1"})
    assert status == 202 and headers["Idempotent-Replayed"] is None
    assert body["message"]["content"] == "Hello" and body["reply"]["status"] == "pending"
    assert headers["Allow"] == "GET, POST, HEAD, OPTIONS"


def test_a_retried_post_is_replayed_the_same_way():
    def again(client, conversation_id, extra):
        return _post(client, conversation_id, {"content": "Hi", "client_message_id": "c1"}, **extra)

    status, body, headers = _both(_open, {"content": "Hi", "client_message_id": "c1"}, then=again)
    assert status == 202 and headers["Idempotent-Replayed"] == "true"
    assert body["message"]["client_message_id"] == "c1" and body["reply"]["status"] == "pending"
    assert Message.objects.filter(client_message_id="c1").count() == 2  # one per path's setup


def test_another_customers_conversation_is_the_same_404():
    def foreign():
        return UserFactory(), ConversationFactory().id

    status, body, _ = _both(foreign)
    assert status == 404 and body == {"error": {"code": "not_found", "message": "Not found."}}


def test_an_unknown_conversation_is_the_same_404():
    status, _, _ = _both(lambda: (UserFactory(), "6f1c1c1e-0000-4000-8000-000000000000"))
    assert status == 404


def test_a_closed_conversation_is_the_same_409():
    def closed():
        conversation = ConversationFactory(status=Conversation.Status.CLOSED)
        return conversation.customer, conversation.id

    status, body, _ = _both(closed)
    assert status == 409 and body["error"]["code"] == "conversation_closed"


def test_a_conversation_a_person_handles_gets_no_reply_the_same_way():
    def with_person():
        conversation = ConversationFactory(handling=Conversation.Handling.HUMAN)
        return conversation.customer, conversation.id

    status, body, _ = _both(with_person)
    assert status == 202 and body["reply"] is None


def test_asking_for_a_person_is_admitted_the_same_way():
    status, body, _ = _both(_open, {"content": "I want to talk to a human please"})
    assert status == 202 and body["reply"] is None


def test_too_many_pending_replies_is_the_same_429(settings):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 1

    def busy():
        customer, conversation_id = _open()
        client_for(customer).post(
            f"/api/v1/conversations/{conversation_id}/messages/", {"content": "1"}, format="json"
        )
        return customer, conversation_id

    status, body, headers = _both(busy)
    assert status == 429 and body["error"]["code"] == "too_many_pending_replies"
    assert headers["Retry-After"] == "2"


def test_the_conversation_message_limit_is_the_same_409(settings):
    settings.CHAT_MAX_MESSAGES_PER_CONVERSATION = 1

    def full():
        conversation = ConversationFactory()
        Message.objects.create(conversation=conversation, role=Message.Role.USER, content="x")
        return conversation.customer, conversation.id

    status, body, _ = _both(full)
    assert status == 409 and body["error"]["code"] == "conversation_message_limit"


def test_the_customer_write_throttle_is_the_same_429(rates):
    rates(chat_user="1/minute")

    def again(client, conversation_id, extra):
        return _post(client, conversation_id, {"content": "Again"}, **extra)

    status, body, headers = _both(_open, then=again)
    assert status == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 60


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"content": "   "}, "validation_error"),
        ({"content": 5}, "validation_error"),
        ({"content": "a\x00b"}, "validation_error"),
        ({"content": "Hi", "client_message_id": "x" * 65}, "validation_error"),
        ({"content": "Hi", "client_message_id": ""}, "validation_error"),
        ([], "validation_error"),
    ],
)
def test_what_the_light_path_does_not_take_gets_drfs_own_answer(body, code):
    status, answer, _ = _both(_open, body)
    assert status == 400 and answer["error"]["code"] == code


def test_a_malformed_body_gets_drfs_answer():
    customer, conversation_id = _open()
    response = client_for(customer).post(
        f"/api/v1/conversations/{conversation_id}/messages/",
        b"{not json",
        content_type="application/json",
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"


def test_a_bad_token_gets_drfs_401(api_client):
    _customer, conversation_id = _open()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer nope")
    response = _post(api_client, conversation_id, {"content": "Hi"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert response["WWW-Authenticate"] == "Bearer"
