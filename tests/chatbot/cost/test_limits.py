"""Rate limits (shared in Redis) and caps on sending messages."""

import pytest
from django.core.cache import cache

from accounts.services import api_token_create
from chatbot.replies import lifecycle
from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory, VisitorFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()  # throttle histories live in the shared cache (Redis)
    yield
    cache.clear()


@pytest.fixture
def queued_only(monkeypatch):
    """Replies stay pending (no task runs), as while a worker is busy."""
    monkeypatch.setattr(lifecycle, "reply_enqueue", lambda *_args, **_kwargs: None)


def post(client, conversation, content="Hello?"):
    return client.post(
        f"/api/v1/conversations/{conversation.id}/messages/", {"content": content}, format="json"
    )


def assert_429(response, code):
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == code
    assert int(response["Retry-After"]) >= 1


def test_per_customer_rate_limit_counts_writes_only(rates, queued_only):
    rates(chat_user="2/minute")
    customer = UserFactory()
    client = client_for(customer)
    conversation = ConversationFactory(customer=customer)
    assert post(client, conversation).status_code == 202
    for _ in range(5):  # reading and polling are never limited
        assert client.get(f"/api/v1/conversations/{conversation.id}/messages/").status_code == 200
    assert post(client, conversation).status_code == 202
    assert_429(post(client, conversation), "rate_limited")
    # Another customer has their own allowance.
    other = UserFactory()
    assert post(client_for(other), ConversationFactory(customer=other)).status_code == 202


def test_per_widget_key_rate_limit_covers_all_its_visitors(rates, queued_only, widget_key):
    rates(chat_widget_key="3/minute")
    responses = []
    for _ in range(4):  # four visitors of the same site, one message each
        visitor = VisitorFactory()
        client = client_for(visitor)
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=visitor, widget_key=widget_key)}"
        )
        responses.append(post(client, ConversationFactory(customer=visitor)))
    assert [r.status_code for r in responses] == [202, 202, 202, 429]
    assert_429(responses[-1], "rate_limited")


def test_rate_limit_is_shared_between_processes_through_redis(rates, queued_only, settings):
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    rates(chat_user="1/minute")
    customer = UserFactory()
    conversation = ConversationFactory(customer=customer)
    assert post(client_for(customer), conversation).status_code == 202
    # A brand-new client (as another web node would be) sees the same counter.
    assert_429(post(client_for(customer), conversation), "rate_limited")


def test_widget_session_creation_is_limited_per_ip_with_retry_after(api_client, widget_key, rates):
    rates(widget_session="2/minute")
    codes = [
        api_client.post(
            "/api/v1/widget/sessions/",
            {"widget_key": widget_key.public_key},
            format="json",
            HTTP_ORIGIN="https://shop.example.com",
        )
        for _ in range(3)
    ]
    assert [r.status_code for r in codes[:2]] == [201, 201]
    assert_429(codes[2], "rate_limited")


def test_messages_per_conversation_cap(settings, queued_only):
    settings.CHAT_MAX_MESSAGES_PER_CONVERSATION = 2
    settings.CHAT_MAX_CONCURRENT_REPLIES = 0
    customer = UserFactory()
    client = client_for(customer)
    conversation = ConversationFactory(customer=customer)
    assert [post(client, conversation).status_code for _ in range(2)] == [202, 202]
    response = post(client, conversation)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conversation_message_limit"
    assert Message.objects.filter(conversation=conversation, role="user").count() == 2
    # A retried POST of an accepted message is still answered (idempotency comes first).
    first = Message.objects.filter(conversation=conversation, role="user").first()
    first.client_message_id = "m-1"
    first.save(update_fields=["client_message_id"])
    replay = client.post(
        f"/api/v1/conversations/{conversation.id}/messages/",
        {"content": "Hello?", "client_message_id": "m-1"},
        format="json",
    )
    assert replay.status_code == 202 and replay["Idempotent-Replayed"] == "true"


def test_concurrent_pending_replies_cap_per_customer(settings, queued_only):
    settings.CHAT_MAX_CONCURRENT_REPLIES = 2
    customer = UserFactory()
    client = client_for(customer)
    first, second = ConversationFactory(customer=customer), ConversationFactory(customer=customer)
    assert post(client, first).status_code == 202
    assert post(client, second).status_code == 202
    assert_429(post(client, first), "too_many_pending_replies")
    # Once a reply is done, there is room again.
    Message.objects.filter(conversation=first, role="assistant").update(status="completed")
    assert post(client, first).status_code == 202


def test_message_length_cap_still_applies(settings, customer_client, customer):
    settings.CHAT_MAX_MESSAGE_CHARS = 10
    response = post(customer_client, ConversationFactory(customer=customer), "x" * 11)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
