"""Context trimming: the system prompt stays first and unchanged, the newest turns are
kept, and input tokens per turn level off as a conversation grows."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import ModelPreference
from accounts.selectors import model_preference_resolve
from chatbot.models import LLMEndpoint, LLMModel
from chatbot.prompt.context import context_build, system_prompt_build
from chatbot.prompt.tokens import TOKENS_REPLY_PRIMING, count_tokens, message_tokens
from chatbot.prompt.trimming import context_token_budget
from conversations.models import Message
from tests.factories import ConversationFactory
from tests.stub_llm import Reply

pytestmark = pytest.mark.django_db

MODEL = "gpt-4o-mini"


def _turns(conversation, n: int, words: int = 40) -> Message:
    """n completed question/answer turns, then a question with a pending reply."""
    start = timezone.now() - timedelta(hours=1)
    body = " ".join(["lorem"] * words)
    created = []
    for i in range(n):
        for role, text in (
            (Message.Role.USER, f"question {i}: {body}"),
            (Message.Role.ASSISTANT, f"answer {i}: {body}"),
        ):
            created.append(
                Message(
                    conversation=conversation,
                    role=role,
                    content=text,
                    status=Message.Status.COMPLETED,
                    token_count=count_tokens(text, MODEL).tokens,
                )
            )
    question = Message(
        conversation=conversation,
        role=Message.Role.USER,
        content=f"question {n}: {body}",
        token_count=count_tokens(f"question {n}: {body}", MODEL).tokens,
    )
    created.append(question)
    Message.objects.bulk_create(created)
    for i, message in enumerate(created):  # distinct, ordered timestamps
        Message.objects.filter(pk=message.pk).update(created_at=start + timedelta(seconds=i))
    return Message.objects.create(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.PENDING,
        reply_to=question,
    )


def _input_tokens(request) -> int:
    return (
        sum(message_tokens(count_tokens(m.content, MODEL).tokens) for m in request.messages)
        + TOKENS_REPLY_PRIMING
    )


def _build(reply):
    preference = model_preference_resolve(user_id=reply.conversation.customer_id)
    return context_build(reply=reply, preference=preference, model=MODEL), preference


def test_budget_is_the_smaller_of_the_setting_and_the_models_window(settings):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 4000
    settings.LLM_DEFAULT_CONTEXT_WINDOW = 8192
    settings.CHAT_CONTEXT_MARGIN_TOKENS = 200
    assert context_token_budget(model="unknown", max_tokens=800) == 4000
    endpoint = LLMEndpoint.objects.create(name="local", base_url="http://127.0.0.1:9/v1")
    LLMModel.objects.create(name="tiny", endpoint=endpoint, context_window=2048)
    assert context_token_budget(model="tiny", max_tokens=800) == 2048 - 800 - 200


def test_long_conversation_is_trimmed_to_budget_newest_kept_system_first(settings):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 600
    settings.CHAT_HISTORY_MESSAGES = 500  # only the token budget limits here
    conversation = ConversationFactory()
    ModelPreference.objects.create(user=conversation.customer, persona="You work for Acme.")
    reply = _turns(conversation, 40)
    request, preference = _build(reply)

    assert request.messages[0].role == "system"
    assert request.messages[0].content == system_prompt_build(preference=preference)
    assert request.messages[-1].content.startswith("question 40:")  # the question is kept
    assert request.messages[1].role == "user"  # starts on a customer turn
    assert len(request.messages) < 81
    assert _input_tokens(request) <= 600
    # Kept messages are the newest ones, contiguous.
    kept = [m.content.split(":")[0] for m in request.messages[1:]]
    n = (len(kept) + 1) // 2
    assert kept[-1] == "question 40" and kept[0] == f"question {40 - n + 1}"


def test_input_tokens_level_off_turn_50_within_1_2x_turn_10(settings):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 1000
    settings.CHAT_HISTORY_MESSAGES = 500
    tokens = {}
    for turns in (10, 50):
        reply = _turns(ConversationFactory(), turns - 1)
        tokens[turns] = _input_tokens(_build(reply)[0])
    assert tokens[50] <= 1.2 * tokens[10], tokens
    assert tokens[50] <= 1000


def test_the_question_is_kept_even_when_alone_it_exceeds_the_budget(settings):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 50
    reply = _turns(ConversationFactory(), 3, words=100)
    request, _ = _build(reply)
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[1].content.startswith("question 3:")


def test_messages_from_before_token_counting_are_counted_on_the_fly(settings):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 600
    settings.CHAT_HISTORY_MESSAGES = 500
    reply = _turns(ConversationFactory(), 40)
    Message.objects.filter(conversation=reply.conversation).update(token_count=None)
    request, _ = _build(reply)
    assert 3 < len(request.messages) < 81
    assert _input_tokens(request) <= 600


def test_through_the_sdk_the_prompt_levels_off_and_its_prefix_never_changes(
    settings, use_llm_stub, send_now
):
    settings.CHAT_CONTEXT_TOKEN_BUDGET = 400
    settings.CHAT_HISTORY_MESSAGES = 500
    conversation = ConversationFactory()
    ModelPreference.objects.create(user=conversation.customer, model=MODEL)
    use_llm_stub.default = Reply(text="A fairly detailed answer " * 8, chunks=2)
    for i in range(14):
        result = send_now(conversation, f"Question {i}: could you tell me more about it?")
        assert Message.objects.get(pk=result.reply.id).status == "completed"
    requests = use_llm_stub.requests
    assert len(requests) == 14
    assert len({r.messages[0]["content"] for r in requests}) == 1  # stable system prefix
    sizes = [len(r.messages) for r in requests]
    assert sizes[-1] == sizes[-2] == sizes[-3] < 2 * 14  # levelled off
    assert requests[-1].messages[-1]["content"].startswith("Question 13:")
