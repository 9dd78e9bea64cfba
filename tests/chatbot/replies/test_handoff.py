"""Human handoff in the turn: no bot reply while a person handles the conversation, the
customer's requests (EN+ZH) and the policy's offers, and the bot's context on its return.
Real stub (through the openai SDK), Postgres, Redis; the reply task runs eagerly."""

import pytest

from accounts.models import ModelPreference
from chatbot.replies import lifecycle, pipeline
from conversations import services
from conversations.handoff_rules import active_rules_forget, matching_phrase
from conversations.models import Conversation, ConversationEvent, HandoffRule, Message
from tests.chatbot.moderation_helpers import published
from tests.conftest import client_for
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    ProviderCallFactory,
    StaffFactory,
)
from tests.stub_llm import Error

pytestmark = pytest.mark.django_db

Handling = Conversation.Handling


@pytest.fixture(autouse=True)
def _rules_from_this_database():
    active_rules_forget()
    yield
    active_rules_forget()


@pytest.fixture
def agent():
    return StaffFactory(first_name="Alex")


def nothing_pending() -> bool:
    return not Message.objects.filter(status__in=["pending", "streaming"]).exists()


# ------------------------------------------------------------------------------ admission


def test_no_bot_reply_while_waiting_or_with_a_person(use_llm_stub, send_now, agent):
    conversation = ConversationFactory()
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    waiting = send_now(conversation, "Hello? Anyone there?")
    assert waiting.reply is None
    services.conversation_take_over(conversation=conversation, agent=agent)
    conversation.refresh_from_db()
    human = send_now(conversation, "Thanks Alex, my order is 42")
    assert human.reply is None
    assert list(conversation.messages.values_list("role", flat=True)) == ["user", "user"]
    assert use_llm_stub.requests == []
    assert nothing_pending()
    # Staff and the customer's other tabs see the message live.
    messages = [d for e, d in published(conversation.pk) if e == "message"]
    assert [m["content"] for m in messages] == [
        "Hello? Anyone there?",
        "Thanks Alex, my order is 42",
    ]


def test_a_reply_claimed_after_the_handoff_is_deferred_not_left_pending(use_llm_stub, send_now):
    """The race: the message got its pending reply, then the customer was handed over
    before a worker claimed it. The worker settles it as deferred and calls no model."""
    conversation = ConversationFactory()
    question = MessageFactory(conversation=conversation, content="Where is my parcel?")
    reply = MessageFactory(
        conversation=conversation, role="assistant", status="pending", content="", reply_to=question
    )
    services.conversation_handoff_request(conversation=conversation, reason="asked")
    finished = pipeline.reply_generate(reply_id=reply.pk)
    assert finished is not None
    reply.refresh_from_db()
    assert (reply.status, reply.content) == ("deferred", "")
    assert use_llm_stub.requests == []
    assert nothing_pending()
    assert [d["status"] for e, d in published(conversation.pk) if e == "message"] == ["deferred"]
    # Deferring twice (a redelivered task) changes nothing.
    assert pipeline.reply_generate(reply_id=reply.pk) is None


def test_reply_defer_needs_the_claim():
    question = MessageFactory()
    reply = MessageFactory(
        conversation=question.conversation, role="assistant", status="pending", reply_to=question
    )
    claimed = lifecycle.reply_claim(reply_id=reply.pk)
    Message.objects.filter(pk=reply.pk).update(claim_token=None)
    assert not lifecycle.reply_defer(claimed=claimed)


# ------------------------------------------------------------------------------- triggers

RULES = (("human", True), ("人工", True), ("real person", False), ("转人工", False))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Human!", "human"),
        ("  HUMAN?", "human"),
        ("Can I talk to a real person?", "real person"),
        ("I need a REAL   person now", "real person"),
        ("人工", "人工"),
        ("人工！", "人工"),  # noqa: RUF001 - full-width, as typed in Chinese
        ("请帮我转人工", "转人工"),
        ("我要转人工客服", "转人工"),
        # Not a request: the word inside other words, or a longer sentence.
        ("Are you human or a bot?", None),
        ("humanity is great", None),
        ("人工智能是什么？", None),  # noqa: RUF001
        ("a realperson account", None),
        ("", None),
    ],
)
def test_matching_phrase(text, expected):
    assert matching_phrase(text, RULES) == expected


@pytest.mark.parametrize(
    "text",
    ["I want to talk to a real person", "human", "agent!", "转人工", "人工客服在吗", "人工"],
)
def test_an_explicit_request_hands_over_without_a_bot_reply(text, use_llm_stub, send_now):
    conversation = ConversationFactory()
    result = send_now(conversation, text)
    assert result.reply is None
    conversation.refresh_from_db()
    assert conversation.handling == Handling.WAITING
    event = conversation.events.get(kind=ConversationEvent.Kind.HANDOFF_REQUESTED)
    assert event.detail["source"] == "message" and event.actor == conversation.customer
    assert use_llm_stub.requests == []
    assert ("handoff", {"state": "waiting", "reason": "asked_in_message"}) in published(
        conversation.pk
    )


@pytest.mark.parametrize("text", ["What is 人工智能?", "Are you a human?", "My agent code is 7"])
def test_ordinary_messages_get_the_bot(text, use_llm_stub, send_now):
    conversation = ConversationFactory()
    result = send_now(conversation, text)
    assert Message.objects.get(pk=result.reply.pk).status == "completed"
    conversation.refresh_from_db()
    assert conversation.handling == Handling.BOT


def test_staff_extend_the_rules(use_llm_stub, send_now):
    HandoffRule.objects.create(phrase="hablar con alguien")
    active_rules_forget()
    conversation = ConversationFactory()
    assert send_now(conversation, "Quiero hablar con alguien").reply is None
    conversation.refresh_from_db()
    assert conversation.handling == Handling.WAITING


def test_rules_off_when_handoff_is_disabled(settings, use_llm_stub, send_now):
    settings.HANDOFF_ENABLED = False
    result = send_now(ConversationFactory(), "转人工")
    assert result.reply is not None


# --------------------------------------------------------------------------------- policy


def test_failures_in_a_row_offer_a_person(settings, use_llm_stub, send_now):
    settings.HANDOFF_OFFER_AFTER_FAILURES = 2
    conversation = ConversationFactory()
    use_llm_stub.script(Error(status=400), times=2)
    first = Message.objects.get(pk=send_now(conversation, "one").reply.pk)
    second = Message.objects.get(pk=send_now(conversation, "two").reply.pk)
    assert (first.status, second.status) == ("failed", "failed")
    assert (first.handoff_offered, second.handoff_offered) == (False, True)
    assert conversation.events.get().kind == ConversationEvent.Kind.HANDOFF_OFFERED
    final = [d for e, d in published(conversation.pk) if e == "message"][-1]
    assert final["id"] == str(second.pk) and final["handoff_offered"] is True
    # The apology no longer promises a person: the offer (a button) does, truthfully.
    assert "human" not in second.content.lower()


def test_a_success_between_failures_resets_the_count(settings, use_llm_stub, send_now):
    settings.HANDOFF_OFFER_AFTER_FAILURES = 2
    conversation = ConversationFactory()
    use_llm_stub.script(Error(status=400))
    send_now(conversation, "one")
    send_now(conversation, "two")  # echoed: a success
    use_llm_stub.script(Error(status=400))
    third = Message.objects.get(pk=send_now(conversation, "three").reply.pk)
    assert third.status == "failed" and not third.handoff_offered


def test_a_moderation_block_offers_a_person(settings, use_llm_stub, send_now):
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    reply = Message.objects.get(pk=send_now(ConversationFactory(), "say forbidden-word").reply.pk)
    assert reply.content == settings.MODERATION_REFUSAL_TEXT and reply.handoff_offered


def test_a_spent_budget_offers_a_person(api_client, use_llm_stub):
    conversation = ConversationFactory()
    customer = conversation.customer
    ModelPreference.objects.create(user=customer, monthly_token_budget=100)
    ProviderCallFactory(customer=customer, prompt_tokens=90, completion_tokens=20)
    client = client_for(customer)
    url = f"/api/v1/conversations/{conversation.pk}/messages/"
    response = client.post(url, {"content": "hello"}, format="json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert response.json()["error"]["handoff_offered"] is True
    # ...and the person is reachable although the budget is spent.
    assert client.post(f"/api/v1/conversations/{conversation.pk}/handoff/").status_code == 200
    response = client.post(url, {"content": "still there?"}, format="json")
    assert response.status_code == 202 and response.json()["reply"] is None


# ------------------------------------------------------------------------- back to the bot


def test_after_release_the_model_sees_the_handoff_and_its_end(use_llm_stub, send_now, agent):
    conversation = ConversationFactory()
    send_now(conversation, "My parcel 42 is late")
    send_now(conversation, "I want to talk to a real person")
    services.conversation_take_over(conversation=conversation, agent=agent)
    services.staff_message_send(
        conversation=conversation, author=agent, content="I've re-sent parcel 42 by express."
    )
    services.conversation_release(conversation=conversation, actor=agent)
    conversation.refresh_from_db()
    use_llm_stub.reset()
    reply = send_now(conversation, "Great, when will it arrive?").reply
    assert Message.objects.get(pk=reply.pk).status == "completed"

    (request,) = [r for r in use_llm_stub.requests if r.path.endswith("/chat/completions")]
    sent = [(m["role"], m["content"]) for m in request.messages]
    assert sent[1] == ("user", "My parcel 42 is late")
    assert sent[2][0] == "assistant"  # the bot's first answer
    assert sent[3] == ("user", "I want to talk to a real person")
    roles_and_starts = [(role, content.split("]")[0] + "]") for role, content in sent[4:]]
    assert roles_and_starts == [
        ("system", "[Handoff]"),  # queued for a person
        ("system", "[Handoff]"),  # Alex joined
        ("assistant", "[Human agent Alex]"),
        ("system", "[Handoff ended]"),
        ("user", "Great, when will it arrive?]"),
    ]
    assert "Human agent Alex joined" in sent[5][1]
    assert sent[6][1] == "[Human agent Alex]: I've re-sent parcel 42 by express."
    assert "handed the conversation back to you" in sent[7][1]
    assert "without repeating it" in sent[7][1]
    assert sent[-1] == ("user", "Great, when will it arrive?")


def test_no_handoff_no_extra_lines(use_llm_stub, send_now):
    conversation = ConversationFactory()
    send_now(conversation, "hi")
    request = use_llm_stub.requests[-1]
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert "talk to a person" not in request.messages[0]["content"]
    assert "connect the customer with a person" in request.messages[0]["content"]
