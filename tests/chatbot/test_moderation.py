"""Moderation: detectors, policy, input blocking without a model call, output blocking while
streaming, and the provider's /v1/moderations through the real SDK against the stub.

Turns run in-process (eager task) on the real stub, Postgres and Redis; one test runs the
same through a real Celery worker process."""

import datetime
import time

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatbot.moderation import OutputBlocked, OutputGuard, detectors, policy
from chatbot.moderation.engine import local_hits, text_check
from chatbot.moderation.services import message_moderate
from chatbot.replies.turn import turn_start
from conversations.models import ModerationFlag
from tests.chatbot.moderation_helpers import deltas_for, published, turn
from tests.factories import ConversationFactory, MessageFactory
from tests.stub_llm import Error, Hang, Moderation, Reply

# --- Detectors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,category",
    [
        ("write to jane.doe+orders@example.co.uk please", detectors.PII_EMAIL),
        ("call +44 20 7946 0958", detectors.PII_PHONE),
        ("my mobile 13800138000", detectors.PII_PHONE),
        ("手机 +86 138-0013-8000", detectors.PII_PHONE),
        ("US office (555) 123-4567", detectors.PII_PHONE),
        ("card 4111 1111 1111 1111", detectors.PII_CARD),
        ("card 5500-0000-0000-0004", detectors.PII_CARD),
        ("amex 378282246310005", detectors.PII_CARD),
        ("身份证 11010519491231002X", detectors.PII_CN_ID),
        ("id 110105194912310021x", None),  # 19 characters: not an ID
    ],
)
def test_pii_positives(text, category):
    found = [d.category for d in detectors.detect_pii(text)]
    assert found == ([category] if category else [])


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "0000 0000 0000 0000",  # one repeated digit is no card
        "id 110105194912310022",  # wrong MOD 11-2 check digit
        "id 110105194913311008",  # month 13 (check digit right, Luhn wrong)
        "id 110105210001011018",  # born in 2100
        "order #12345678 shipped 2024-01-15 at 12:00",
        "reply 3f1c2a4e-1234-4abc-9def-0123456789ab",
        "not an email: user@localhost",
    ],
)
def test_pii_negatives(text):
    assert detectors.detect_pii(text) == []


def test_luhn_and_id_checksums():
    assert detectors.card_number_valid("4012888888881881")
    assert not detectors.card_number_valid("4012888888881882")
    assert detectors.cn_id_valid("11010519491231002X")
    assert detectors.cn_id_valid("11010519491231002x")
    assert not detectors.cn_id_valid("110105194912310020")
    # A plausible birth date: not after "today".
    assert not detectors.cn_id_valid("11010519491231002X", today=datetime.date(1949, 12, 30))


def test_mask_pii_replaces_each_span():
    text = (
        "mail a.b@example.com, call +86 13800138000, card 4111111111111111, id 11010519491231002X"
    )
    assert detectors.mask_pii(text) == "mail [email], call [phone], card [card], id [cn_id]"


# --- Rules and policy ---------------------------------------------------------------------


def test_default_policy():
    assert policy.action_for("pii/email", source="input") == "flag"
    assert policy.action_for("blocked_term", source="input") == "block"
    assert policy.action_for("sexual/minors", source="input") == "block"
    assert policy.action_for("violence/graphic", source="output") == "block"
    assert policy.action_for("harassment", source="input") == "flag"
    assert policy.action_for("self-harm/intent", source="input") == "flag"  # parent: self-harm
    assert policy.action_for("something-new", source="input") == "flag"  # "*"


def test_policy_overrides_per_category_and_source(settings):
    settings.MODERATION_POLICY = {"harassment": "block", "output:pii": "allow"}
    assert policy.action_for("harassment", source="input") == "block"
    assert policy.action_for("pii/phone", source="output") == "allow"
    assert policy.action_for("pii/phone", source="input") == "flag"
    settings.MODERATION_POLICY = {"hate": "delete"}
    with pytest.raises(ImproperlyConfigured):
        policy.action_for("hate", source="input")


def test_blocked_terms_respect_word_boundaries_and_cjk(settings):
    settings.MODERATION_BLOCKED_TERMS = ["scam", "退款骗局"]
    assert [h.rule for h in local_hits("This is a SCAM!", source="input")] == ["term:scam"]
    assert local_hits("I love scampi", source="input") == []
    assert [h.category for h in local_hits("这是退款骗局吗", source="input")] == ["blocked_term"]


def test_blocked_patterns(settings):
    settings.MODERATION_BLOCKED_PATTERNS = [r"(?i)\bfree\s+bitcoin\b"]
    verdict = text_check("Get FREE   bitcoin now", source="input")
    assert verdict.blocked and verdict.hits[0].category == "blocked_pattern"
    settings.MODERATION_BLOCKED_PATTERNS = ["(unclosed"]
    with pytest.raises(ImproperlyConfigured):
        text_check("anything", source="input")


def test_moderation_can_be_switched_off(settings):
    settings.MODERATION_ENABLED = False
    settings.MODERATION_BLOCKED_TERMS = ["scam"]
    assert not text_check("scam", source="input").hits


# --- The output guard (unit) --------------------------------------------------------------


def _feed_all(guard, text, size=3):
    shown = []
    for i in range(0, len(text), size):
        shown.append(guard.feed(text[i : i + size]))
    return "".join(shown)


def test_guard_holds_back_a_fixed_floor_when_set_and_releases_it_at_the_end(settings):
    # MODERATION_STREAM_HOLDBACK_CHARS is now a floor (default 0) added to the minimal
    # hold-back; nothing in this text could become a match, so exactly the floor waits.
    settings.MODERATION_STREAM_HOLDBACK_CHARS = 10
    guard = OutputGuard(system_prompt="Be nice.")
    text = "Your parcel ships tomorrow from our Berlin warehouse."
    shown = _feed_all(guard, text)
    assert shown == text[:-10]
    assert shown + guard.finish(text) == text


def test_guard_stops_a_term_split_across_deltas_before_any_of_it_shows(settings):
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    guard = OutputGuard(system_prompt="Be nice.")
    shown = []
    with pytest.raises(OutputBlocked) as caught:
        for piece in ["Well, ", "the forb", "idden-", "word is ", "here and more"]:
            shown.append(guard.feed(piece))
    assert "forb" not in "".join(shown)
    assert caught.value.verdict.blocked and "forbidden-word" in caught.value.text


def test_guard_without_holdback_publishes_at_once(settings):
    settings.MODERATION_STREAM_HOLDBACK_CHARS = 0  # the default
    guard = OutputGuard(system_prompt="Be nice.")
    assert guard.feed("Hello") == "Hello"


def test_guard_restart_forgets_the_failed_attempt(settings):
    settings.MODERATION_STREAM_HOLDBACK_CHARS = 5
    guard = OutputGuard(system_prompt="Be nice.")
    guard.feed("first attempt text")
    guard.restart()
    shown = guard.feed("second try")
    assert shown + guard.finish("second try") == "second try"


# --- Input moderation in the real flow ------------------------------------------------------

pytestmark = pytest.mark.django_db


@pytest.fixture
def blocked_term(settings):
    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    return "forbidden-word"


def test_blocked_message_gets_refusal_without_any_model_call_and_chat_goes_on(
    use_llm_stub, blocked_term, settings, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory()
    reply = turn(
        conversation, f"tell me about {blocked_term} now", django_capture_on_commit_callbacks
    )

    assert reply.status == "completed" and reply.content == settings.MODERATION_REFUSAL_TEXT
    assert use_llm_stub.requests == []  # no model call, no moderation call either
    flag = ModerationFlag.objects.get()
    assert flag.message_id == reply.reply_to_id
    assert (flag.source, flag.action, flag.categories, flag.rule) == (
        "input",
        "blocked",
        ["blocked_term"],
        f"term:{blocked_term}",
    )
    assert [e for e, _ in published(conversation.id)][-1] == "message"

    # The conversation is not broken, and the blocked message never reaches the model later.
    reply = turn(conversation, "Where is my parcel?", django_capture_on_commit_callbacks)
    assert reply.content == "Echo: Where is my parcel?"
    assert len(use_llm_stub.requests) == 1
    assert blocked_term not in use_llm_stub.requests[0].raw_body.decode()


def test_pii_in_input_is_flagged_and_answered(use_llm_stub, django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    reply = turn(
        conversation,
        "I am jane@example.com, card 4111 1111 1111 1111",
        django_capture_on_commit_callbacks,
    )
    assert reply.content.startswith("Echo: ")
    flags = ModerationFlag.objects.order_by("source", "rule")
    # The echoing stub repeats it: the reply is flagged too (policy "output:pii" can allow it).
    assert [(f.source, f.rule, f.action) for f in flags] == [
        ("input", "pii:card", "flagged"),
        ("input", "pii:email", "flagged"),
        ("output", "pii:card", "flagged"),
        ("output", "pii:email", "flagged"),
    ]
    assert {f.message_id for f in flags if f.source == "output"} == {reply.id}


def test_pii_is_masked_before_the_provider_when_configured(
    use_llm_stub, settings, django_capture_on_commit_callbacks
):
    settings.PII_MASK_BEFORE_PROVIDER = True
    conversation = ConversationFactory()
    turn(
        conversation,
        "Reach me on +86 138 0013 8000 or jane@example.com",
        django_capture_on_commit_callbacks,
    )
    sent = use_llm_stub.requests[0].raw_body.decode()
    assert "jane@example.com" not in sent and "0013" not in sent
    assert use_llm_stub.requests[0].last_user_message == "Reach me on [phone] or [email]"


def test_input_moderation_is_idempotent():
    message = MessageFactory(content="mail jane@example.com")
    assert not message_moderate(message=message).blocked
    assert not message_moderate(message=message).blocked
    assert ModerationFlag.objects.count() == 1


# --- Output moderation in the real flow -----------------------------------------------------


def test_reply_tripping_a_block_rule_mid_stream_is_stopped_and_replaced(
    use_llm_stub, blocked_term, settings, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory()
    text = (
        "Sure. "
        + "Here is some harmless text. " * 3
        + f"The {blocked_term} is "
        + "followed by a long tail of more words. " * 20
    )
    use_llm_stub.script(Reply(text=text, chunks=120, chunk_delay=0.01))
    started = time.monotonic()
    reply = turn(conversation, "Tell me something", django_capture_on_commit_callbacks)
    elapsed = time.monotonic() - started

    assert reply.status == "completed"
    assert reply.content == settings.MODERATION_OUTPUT_REPLACEMENT_TEXT
    assert elapsed < 1.0  # stopped early: the whole stream would take 1.2 s
    shown = "".join(deltas_for(conversation.id, reply.id))
    assert blocked_term not in shown and text.startswith(shown)
    flag = ModerationFlag.objects.get(message=reply)
    assert (flag.source, flag.action, flag.categories) == ("output", "blocked", ["blocked_term"])
    assert blocked_term in flag.excerpt and len(flag.excerpt) < len(text)
    # The final message replaces the partial text in every client.
    final = [d for e, d in published(conversation.id) if e == "message"][-1]
    assert final["id"] == str(reply.id) and final["content"] == reply.content


def test_reply_with_pii_is_flagged_not_blocked(use_llm_stub, django_capture_on_commit_callbacks):
    conversation = ConversationFactory()
    use_llm_stub.script(Reply(text="Our support line is +44 20 7946 0958, open 9 to 5.", chunks=6))
    reply = turn(conversation, "How do I call you?", django_capture_on_commit_callbacks)
    assert reply.content == "Our support line is +44 20 7946 0958, open 9 to 5."
    assert "".join(deltas_for(conversation.id, reply.id)) == reply.content
    flag = ModerationFlag.objects.get(source="output")
    assert (flag.message_id, flag.action, flag.rule) == (reply.id, "flagged", "pii:phone")


# --- The provider's moderation endpoint -------------------------------------------------------


@pytest.fixture
def provider_moderation(settings, use_llm_stub):
    settings.MODERATION_PROVIDER_ENABLED = True
    settings.MODERATION_PROVIDER_TIMEOUT = 0.5
    return use_llm_stub


def _paths(stub):
    return [r.path for r in stub.requests]


def test_provider_flag_is_recorded_and_chat_goes_on(
    provider_moderation, django_capture_on_commit_callbacks
):
    stub = provider_moderation
    stub.script(
        Moderation(flagged=True, categories={"harassment": True}, scores={"harassment": 0.97})
    )
    conversation = ConversationFactory()
    reply = turn(conversation, "you are useless", django_capture_on_commit_callbacks)

    assert reply.content == "Echo: you are useless"
    assert _paths(stub) == ["/v1/moderations", "/v1/chat/completions", "/v1/moderations"]
    assert stub.requests[0].body["input"] == ["you are useless"]
    assert stub.requests[0].body["model"] == "omni-moderation-latest"
    flag = ModerationFlag.objects.get()
    assert (flag.source, flag.action, flag.categories) == ("input", "flagged", ["harassment"])
    assert flag.scores == {"harassment": 0.97}
    assert flag.rule == "provider:omni-moderation-latest"


def test_provider_block_category_refuses_without_a_chat_call(
    provider_moderation, settings, django_capture_on_commit_callbacks
):
    stub = provider_moderation
    stub.script(Moderation(flagged=True, categories={"sexual/minors": True}))
    reply = turn(ConversationFactory(), "something awful", django_capture_on_commit_callbacks)
    assert reply.content == settings.MODERATION_REFUSAL_TEXT
    assert _paths(stub) == ["/v1/moderations"]
    assert ModerationFlag.objects.get().action == "blocked"


@pytest.mark.parametrize("holdback", [0, 48])
def test_provider_flags_the_whole_reply_before_it_is_released(
    provider_moderation, settings, holdback, django_capture_on_commit_callbacks
):
    settings.MODERATION_STREAM_HOLDBACK_CHARS = holdback
    stub = provider_moderation
    text = "A graphic description follows."
    stub.script(Reply(text=text, chunks=3))
    stub.script(
        Moderation(flagged=True, categories={"violence/graphic": True}),
        when_contains="graphic description",
    )
    conversation = ConversationFactory()
    reply = turn(conversation, "describe it", django_capture_on_commit_callbacks)
    assert reply.content == settings.MODERATION_OUTPUT_REPLACEMENT_TEXT
    shown = "".join(deltas_for(conversation.id, reply.id))
    if holdback:
        # Short reply, all inside the fixed hold-back: none of it was ever shown.
        assert shown == ""
    else:
        # Nothing in it could become a local match, so it streamed as it came; the
        # provider's verdict (one call, on the whole reply) replaces it in every client.
        assert text.startswith(shown)
    final = [d for e, d in published(conversation.id) if e == "message"][-1]
    assert final["id"] == str(reply.id) and final["content"] == reply.content
    flag = ModerationFlag.objects.get()
    assert (flag.source, flag.action, flag.categories) == (
        "output",
        "blocked",
        ["violence/graphic"],
    )


@pytest.mark.parametrize("failure", [Error(status=500), Hang(seconds=3)])
def test_provider_failure_fails_open_by_default(
    provider_moderation, failure, django_capture_on_commit_callbacks
):
    stub = provider_moderation
    stub.script(failure, endpoint="moderations")
    started = time.monotonic()
    reply = turn(ConversationFactory(), "Where is my parcel?", django_capture_on_commit_callbacks)
    assert reply.content == "Echo: Where is my parcel?"
    assert time.monotonic() - started < 2.5  # the 0.5 s moderation timeout, not the hang
    assert not ModerationFlag.objects.exists()


def test_provider_failure_fails_closed_when_configured(
    provider_moderation, settings, django_capture_on_commit_callbacks
):
    settings.MODERATION_PROVIDER_FAIL_MODE = "closed"
    stub = provider_moderation
    stub.script(Error(status=503), endpoint="moderations")
    reply = turn(ConversationFactory(), "Where is my parcel?", django_capture_on_commit_callbacks)
    assert reply.content == settings.MODERATION_REFUSAL_TEXT
    assert _paths(stub) == ["/v1/moderations"]
    flag = ModerationFlag.objects.get()
    assert (flag.categories, flag.rule, flag.action) == (
        ["moderation_unavailable"],
        "provider:provider_error",
        "blocked",
    )


# --- Through a real Celery worker process ---------------------------------------------------


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_worker_refuses_blocked_input_and_replaces_blocked_output(
    start_worker, worker_env, llm_stub, settings
):
    from tests.chatbot.replies.test_worker import wait_for_reply

    worker_env["MODERATION_BLOCKED_TERMS"] = "forbidden-word"
    start_worker()
    conversation = ConversationFactory()
    first = turn_start(conversation=conversation, content="say forbidden-word")
    reply = wait_for_reply(first.reply.id)
    assert reply.content == settings.MODERATION_REFUSAL_TEXT and llm_stub.requests == []

    llm_stub.script(
        Reply(
            text="Fine. " + "Filler words here. " * 4 + "forbidden-word! " + "More. " * 30,
            chunks=40,
        )
    )
    second = turn_start(conversation=conversation, content="Hello")
    reply = wait_for_reply(second.reply.id)
    assert reply.content == settings.MODERATION_OUTPUT_REPLACEMENT_TEXT
    assert "forbidden" not in "".join(deltas_for(conversation.id, reply.id))
    assert set(ModerationFlag.objects.values_list("source", "action")) == {
        ("input", "blocked"),
        ("output", "blocked"),
    }
