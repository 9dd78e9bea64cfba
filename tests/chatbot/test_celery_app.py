"""The Celery app's demo mode: with no broker, tasks run on a background thread of the web
process, so the POST answers 202 before the reply is generated, as with real workers."""

import threading
import time

import pytest

from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_the_post_answers_before_the_reply_is_generated(settings):
    settings.CELERY_EAGER_IN_BACKGROUND = True
    settings.OPENAI_BASE_URL = settings.OPENAI_API_KEY = ""  # the offline responder
    settings.OFFLINE_RESPONDER_DELAY_MS = 40  # a few hundred ms for a whole answer
    conversation = ConversationFactory()
    client = client_for(conversation.customer)

    started = time.monotonic()
    response = client.post(
        f"/api/v1/conversations/{conversation.id}/messages/",
        {"content": "Where is my parcel?"},
        format="json",
    )
    answered_in = time.monotonic() - started
    assert response.status_code == 202
    reply_id = response.json()["reply"]["id"]
    assert Message.objects.get(pk=reply_id).status in {"pending", "streaming"}

    deadline = time.monotonic() + 20
    while (reply := Message.objects.get(pk=reply_id)).status != "completed":
        assert time.monotonic() < deadline, f"reply stuck in {reply.status}"
        time.sleep(0.05)
    generated_in = time.monotonic() - started
    assert reply.model == "offline-responder" and reply.content
    assert answered_in < generated_in


def test_the_result_backend_is_built_once_per_process_not_per_thread():
    # Under ASGI each request's sync code runs in a new thread; a per-thread backend was
    # rebuilt by every enqueue.
    from chatbot.celery import app

    backends = []
    thread = threading.Thread(target=lambda: backends.append(app.backend))
    thread.start()
    thread.join()
    assert backends == [app.backend]
