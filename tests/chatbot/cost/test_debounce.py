"""Burst debounce: quick messages from one customer get ONE reply (one paid model call),
and every message still ends with exactly one final reply row."""

import json
import time

import pytest
import redis
from django.conf import settings as django_settings

from chatbot.cost.debounce import superseding_reply_id
from chatbot.platform.event_bus import _key as stream_key
from chatbot.prompt.tokens import count_tokens
from chatbot.replies import lifecycle
from chatbot.replies.turn import turn_start
from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, UserFactory
from tests.stub_llm import Reply

# Wide enough that three API calls from a loaded 2-core test machine fit in it.
WINDOW = 2.0


def wait_final(reply_ids, timeout=20) -> list[Message]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = list(Message.objects.filter(pk__in=reply_ids))
        if all(r.status in ("completed", "failed") for r in replies):
            return sorted(replies, key=lambda r: reply_ids.index(str(r.pk)))
        time.sleep(0.05)
    raise AssertionError("replies not final in time")


@pytest.fixture
def worker_env(worker_env):
    return {**worker_env, "CHAT_DEBOUNCE_SECONDS": str(WINDOW)}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_messages_sent_while_a_reply_is_coming_get_one_reply_from_one_model_call(
    start_worker, llm_stub, settings
):
    settings.CHAT_DEBOUNCE_SECONDS = WINDOW  # the countdown is set where the task is sent
    start_worker()
    customer = UserFactory()
    conversation = ConversationFactory(customer=customer)
    client = client_for(customer)
    # The first answer takes a while: the customer keeps typing meanwhile.
    llm_stub.script(Reply(text="Hello! How can I help?", ttft=1.0))
    llm_stub.default = Reply(text="Here is everything you asked about.")
    count_tokens("warm up", "gpt-4o-mini")  # load the encoding before the burst starts
    bodies = []
    for text in ("Hi", "my order is late", "order #1234, can you check?"):
        response = client.post(
            f"/api/v1/conversations/{conversation.id}/messages/", {"content": text}, format="json"
        )
        assert response.status_code == 202
        bodies.append(response.json())
        if text == "Hi":
            llm_stub.wait_for_requests(1)  # the first answer is being generated
    reply_ids = [b["reply"]["id"] for b in bodies]
    first, second, last = wait_final(reply_ids)
    time.sleep(0.3)  # any straggler task would have called the stub by now

    # A lone first message is answered at once; the two written meanwhile share one call.
    assert len(llm_stub.requests) == 2, [r.messages for r in llm_stub.requests]
    assert (first.content, first.merged_into_id) == ("Hello! How can I help?", None)
    sent = llm_stub.requests[1].messages
    assert [m["content"] for m in sent if m["role"] == "user"] == [
        "Hi",
        "my order is late",
        "order #1234, can you check?",
    ]
    assert (last.status, last.content, last.merged_into_id) == (
        "completed",
        "Here is everything you asked about.",
        None,
    )
    assert (second.status, second.content) == ("completed", "")
    assert str(second.merged_into_id) == reply_ids[2]
    # Exactly one reply row per message.
    assert Message.objects.filter(conversation=conversation, role="assistant").count() == 3

    # Clients learn of the merge on the event bus: the final `message` event of each reply.
    events = redis.Redis.from_url(django_settings.EVENT_BUS_URL).xrange(
        stream_key(str(conversation.id))
    )
    finals = {}
    for _id, fields in events:
        data = json.loads(fields[b"d"])
        if fields[b"e"] == b"message" and data.get("role") == "assistant":
            finals[data["id"]] = data
    assert finals[reply_ids[1]]["merged_into"] == reply_ids[2]
    assert finals[reply_ids[1]]["status"] == "completed"
    assert finals[reply_ids[2]]["content"] == "Here is everything you asked about."


@pytest.mark.django_db
def test_only_messages_sent_while_a_reply_is_coming_wait_for_the_window(
    settings, monkeypatch, django_capture_on_commit_callbacks
):

    settings.CHAT_DEBOUNCE_SECONDS = WINDOW
    countdowns = []
    monkeypatch.setattr(
        lifecycle, "reply_enqueue", lambda reply_id, countdown=None: countdowns.append(countdown)
    )
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=True):
        turn_start(conversation=conversation, content="Hi")
        turn_start(conversation=conversation, content="are you there?")
    Message.objects.filter(conversation=conversation, status="pending").update(
        status="completed"
    )  # both answered
    with django_capture_on_commit_callbacks(execute=True):
        turn_start(conversation=conversation, content="new question, later")
    assert countdowns == [None, WINDOW, None]


@pytest.mark.django_db
class TestSupersedingRule:
    def _send(self, conversation, text, django_capture_on_commit_callbacks):

        with django_capture_on_commit_callbacks(execute=False):
            return turn_start(conversation=conversation, content=text)

    def test_a_later_pending_message_supersedes(self, settings, django_capture_on_commit_callbacks):
        settings.CHAT_DEBOUNCE_SECONDS = WINDOW
        conversation = ConversationFactory()
        one = self._send(conversation, "one", django_capture_on_commit_callbacks)
        two = self._send(conversation, "two", django_capture_on_commit_callbacks)
        reply = Message.objects.select_related("reply_to").get(pk=one.reply.id)
        assert superseding_reply_id(reply=reply) == two.reply.id
        last = Message.objects.select_related("reply_to").get(pk=two.reply.id)
        assert superseding_reply_id(reply=last) is None

    def test_off_when_the_window_is_zero(self, settings, django_capture_on_commit_callbacks):
        settings.CHAT_DEBOUNCE_SECONDS = 0
        conversation = ConversationFactory()
        one = self._send(conversation, "one", django_capture_on_commit_callbacks)
        self._send(conversation, "two", django_capture_on_commit_callbacks)
        reply = Message.objects.select_related("reply_to").get(pk=one.reply.id)
        assert superseding_reply_id(reply=reply) is None

    def test_a_failed_later_reply_does_not_swallow_an_earlier_message(
        self, settings, django_capture_on_commit_callbacks
    ):
        settings.CHAT_DEBOUNCE_SECONDS = WINDOW
        conversation = ConversationFactory()
        one = self._send(conversation, "one", django_capture_on_commit_callbacks)
        two = self._send(conversation, "two", django_capture_on_commit_callbacks)
        Message.objects.filter(pk=two.reply.id).update(status="failed")
        reply = Message.objects.select_related("reply_to").get(pk=one.reply.id)
        assert superseding_reply_id(reply=reply) is None


@pytest.mark.django_db
def test_a_message_folded_into_a_refused_one_still_gets_its_own_answer(
    settings, use_llm_stub, django_capture_on_commit_callbacks
):
    from chatbot.replies.pipeline import reply_generate

    settings.CHAT_DEBOUNCE_SECONDS = WINDOW
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    use_llm_stub.default = Reply(text="Your order ships today.")
    conversation = ConversationFactory()
    with django_capture_on_commit_callbacks(execute=False):  # both queued, neither run yet
        first = turn_start(conversation=conversation, content="where is my order?")
        blocked = turn_start(conversation=conversation, content="forbidden-word!")
    reply_generate(reply_id=first.reply.id)  # folds into the later, not yet moderated, one
    assert Message.objects.get(pk=first.reply.id).merged_into_id == blocked.reply.id

    with django_capture_on_commit_callbacks(execute=True):  # the re-dispatch runs eagerly
        reply_generate(reply_id=blocked.reply.id)  # refused: the first is sent back

    answered = Message.objects.get(pk=first.reply.id)
    assert (answered.status, answered.merged_into_id) == ("completed", None)
    assert answered.content == "Your order ships today."
    assert len(use_llm_stub.requests) == 1
    assert "forbidden-word" not in str(use_llm_stub.requests[0].messages)
    refusal = Message.objects.get(pk=blocked.reply.id)
    assert refusal.content == settings.MODERATION_REFUSAL_TEXT
