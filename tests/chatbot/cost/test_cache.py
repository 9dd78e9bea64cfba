"""Exact-match response cache for first-turn questions (real stub, real SDK, real Redis)."""

import pytest
from django.core.cache import cache
from django.core.management import call_command

from accounts.models import ModelPreference
from chatbot.cost.response_cache import normalise, response_cache_stats
from chatbot.models import ProviderCall
from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory, VisitorFactory
from tests.stub_llm import Reply

pytestmark = pytest.mark.django_db

QUESTION = "What are your opening hours?"
ANSWER = "We are open 9 to 5, Monday to Friday."


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


def customer(*, temperature=0.0, persona="", visitor=False):
    user = VisitorFactory() if visitor else UserFactory()
    ModelPreference.objects.create(
        user=user, model="gpt-4o-mini", temperature=temperature, persona=persona
    )
    return user


def ask(send_now, user, question=QUESTION):
    result = send_now(ConversationFactory(customer=user), question)
    return Message.objects.get(pk=result.reply.id)


def test_a_repeated_first_question_is_answered_without_a_provider_call(use_llm_stub, send_now):
    use_llm_stub.default = Reply(text=ANSWER)
    first = ask(send_now, customer())
    second = ask(send_now, customer(visitor=True), "  what are your OPENING   hours? ")
    assert len(use_llm_stub.requests) == 1  # the second never reached the model
    assert (first.content, first.cached) == (ANSWER, False)
    assert (second.status, second.content, second.cached) == ("completed", ANSWER, True)
    assert second.model == first.model == "gpt-4o-mini"
    assert (second.prompt_tokens, second.completion_tokens) == (0, 0)
    assert ProviderCall.objects.filter(reply=second).count() == 0  # nothing to pay
    assert response_cache_stats() == {"hits": 1, "misses": 1}


def test_stats_command(use_llm_stub, send_now, capsys):
    use_llm_stub.default = Reply(text=ANSWER)
    ask(send_now, customer())
    ask(send_now, customer())
    call_command("cost_stats")
    assert "1 hits, 1 misses (hit rate 50.0%)" in capsys.readouterr().out


def test_a_later_turn_is_never_cached(use_llm_stub, send_now):
    use_llm_stub.default = Reply(text=ANSWER)
    ask(send_now, customer())  # cached as a first turn
    user = customer()
    conversation = ConversationFactory(customer=user)
    send_now(conversation, "Hello there")
    later = Message.objects.get(pk=send_now(conversation, QUESTION).reply.id)
    assert later.cached is False and len(use_llm_stub.requests) == 3


def test_non_deterministic_settings_are_not_cached(use_llm_stub, send_now):
    use_llm_stub.default = Reply(text=ANSWER)
    ask(send_now, customer(temperature=0.7))
    reply = ask(send_now, customer(temperature=0.7))
    assert reply.cached is False and len(use_llm_stub.requests) == 2
    assert response_cache_stats() == {"hits": 0, "misses": 0}  # not even eligible


def test_a_persona_may_hold_customer_data_so_it_is_never_cached(use_llm_stub, send_now):
    use_llm_stub.default = Reply(text=ANSWER)
    persona = "The customer is Jane Doe, order #1234."
    ask(send_now, customer(persona=persona))
    reply = ask(send_now, customer(persona=persona))
    assert reply.cached is False and len(use_llm_stub.requests) == 2


def test_different_model_parameters_or_language_do_not_share_answers(use_llm_stub, send_now):
    use_llm_stub.default = Reply(text=ANSWER)
    ask(send_now, customer())
    german = customer()
    ModelPreference.objects.filter(user=german).update(language="German")
    other_model = customer()
    ModelPreference.objects.filter(user=other_model).update(model="gpt-4.1-mini")
    assert ask(send_now, german).cached is False
    assert ask(send_now, other_model).cached is False
    assert len(use_llm_stub.requests) == 3


def test_a_truncated_answer_is_not_remembered(use_llm_stub, send_now):
    use_llm_stub.script(Reply(text="We are open 9 to", finish_reason="length"))
    use_llm_stub.default = Reply(text=ANSWER)
    ask(send_now, customer())
    assert ask(send_now, customer()).cached is False
    assert ask(send_now, customer()).cached is True
    assert len(use_llm_stub.requests) == 2


def test_normalisation():
    fullwidth_w = "\uff37"
    assert normalise(f"  {fullwidth_w}hat are\tyour  HOURS? ") == "what are your hours?"


def test_erasing_a_customer_erases_the_answers_their_questions_cached(
    use_llm_stub, send_now, django_capture_on_commit_callbacks
):
    from chatbot.privacy.services import user_erase

    use_llm_stub.default = Reply(text=ANSWER)
    asker, bystander = customer(), customer()
    ask(send_now, bystander, "Do you ship abroad?")
    ask(send_now, asker)
    with django_capture_on_commit_callbacks(execute=True):
        user_erase(user=asker, route="api")
    # Their question's cached answer is gone: the next customer's costs a model call...
    ask(send_now, customer())
    assert len(use_llm_stub.requests) == 3
    # ...while another customer's entry is untouched.
    assert ask(send_now, customer(), "Do you ship abroad?").cached
    assert len(use_llm_stub.requests) == 3
