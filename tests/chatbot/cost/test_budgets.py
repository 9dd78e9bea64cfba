"""Monthly budgets per customer, from the provider-call ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import ModelPreference
from accounts.selectors import model_preference_resolve
from chatbot.cost import budgets
from chatbot.models import ProviderCall
from chatbot.replies.pipeline import reply_generate
from chatbot.replies.turn import turn_start
from conversations.models import Message
from tests.conftest import client_for
from tests.factories import ConversationFactory, ProviderCallFactory, UserFactory

pytestmark = pytest.mark.django_db


def spend(user, *, tokens=0, cost="0", when=None):
    call = ProviderCallFactory(
        customer=user, prompt_tokens=tokens, completion_tokens=0, cost=Decimal(cost)
    )
    if when is not None:
        ProviderCall.objects.filter(pk=call.pk).update(created_at=when)
    return call


def post(client, conversation, content="Hello?"):
    return client.post(
        f"/api/v1/conversations/{conversation.id}/messages/", {"content": content}, format="json"
    )


def test_a_customer_over_the_token_budget_gets_429_budget_exceeded():
    customer = UserFactory()
    ModelPreference.objects.create(user=customer, monthly_token_budget=1000)
    conversation = ConversationFactory(customer=customer)
    spend(customer, tokens=600)
    spend(customer, tokens=400)
    response = post(client_for(customer), conversation)
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "budget_exceeded"
    assert int(response["Retry-After"]) > 0
    assert not Message.objects.filter(conversation=conversation).exists()


def test_under_budget_and_last_months_spend_do_not_count():
    customer = UserFactory()
    ModelPreference.objects.create(user=customer, monthly_token_budget=1000)
    spend(customer, tokens=999)
    spend(customer, tokens=5000, when=budgets.period_start() - timedelta(seconds=1))
    assert budgets.spend_for(user_id=customer.pk).tokens == 999
    response = post(client_for(customer), ConversationFactory(customer=customer))
    assert response.status_code == 202


def test_money_budget(settings):
    customer = UserFactory()
    ModelPreference.objects.create(user=customer, monthly_cost_budget=Decimal("0.50"))
    spend(customer, tokens=10, cost="0.30")
    assert post(client_for(customer), ConversationFactory(customer=customer)).status_code == 202
    spend(customer, tokens=10, cost="0.20")
    response = post(client_for(customer), ConversationFactory(customer=customer))
    assert response.status_code == 429 and response.json()["error"]["code"] == "budget_exceeded"


def budget_of_user(user) -> budgets.Budget:
    return budgets.budget_of(model_preference_resolve(user_id=user.pk))


def test_blank_means_the_settings_default_and_zero_means_unlimited(settings):
    settings.BUDGET_MONTHLY_TOKENS = 100
    settings.BUDGET_MONTHLY_COST = ""
    by_default, unlimited = UserFactory(), UserFactory()
    ModelPreference.objects.create(user=unlimited, monthly_token_budget=0)
    for user in (by_default, unlimited):
        spend(user, tokens=150)
    assert post(client_for(by_default), ConversationFactory(customer=by_default)).status_code == 429
    assert post(client_for(unlimited), ConversationFactory(customer=unlimited)).status_code == 202
    assert budget_of_user(by_default) == budgets.Budget(tokens=100, cost=None)
    settings.BUDGET_MONTHLY_TOKENS = 0
    settings.BUDGET_MONTHLY_COST = "2.5"
    assert budget_of_user(by_default) == budgets.Budget(tokens=None, cost=Decimal("2.5"))


def test_unlimited_customers_cost_no_aggregate_query(django_assert_num_queries):
    customer = UserFactory()
    with django_assert_num_queries(1):  # the preference row only
        budgets.budget_check(user_id=customer.pk, budget=budget_of_user(customer))


def test_a_queued_reply_fails_politely_when_the_budget_ran_out_meanwhile(
    use_llm_stub, settings, monkeypatch, django_capture_on_commit_callbacks
):
    customer = UserFactory()
    ModelPreference.objects.create(user=customer, monthly_token_budget=1000)
    conversation = ConversationFactory(customer=customer)
    with django_capture_on_commit_callbacks(execute=False):  # queued, not run yet
        result = turn_start(conversation=conversation, content="Hi")
    spend(customer, tokens=1000)  # e.g. another conversation used it up
    reply = reply_generate(reply_id=result.reply.id)
    assert reply.status == "failed" and reply.error_code == "budget_exceeded"
    assert reply.content == settings.BUDGET_EXCEEDED_REPLY_TEXT
    assert use_llm_stub.requests == []  # no paid call


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client):
        admin = UserFactory(is_staff=True, is_superuser=True)
        client.force_login(admin)
        return client

    def test_user_list_shows_this_months_spend_in_one_query(
        self, admin_client, django_assert_max_num_queries
    ):
        user = UserFactory(username="big-spender")
        spend(user, tokens=1234, cost="0.0456")
        spend(user, tokens=1, when=budgets.period_start() - timedelta(days=3))
        url = reverse("admin:accounts_user_changelist")
        admin_client.get(url)  # warm up (session, content types)
        with django_assert_max_num_queries(8) as few:
            response = admin_client.get(url)
        assert response.status_code == 200
        assert "1,234 tokens · 0.0456" in response.content.decode()
        for _ in range(10):
            spend(UserFactory(), tokens=7)
        with django_assert_max_num_queries(len(few.captured_queries)):
            response = admin_client.get(url)  # 10 more users: not one more query
        assert response.content.decode().count("7 tokens · 0.0000") == 10

    def test_user_page_shows_spend_read_only(self, admin_client):
        user = UserFactory()
        spend(user, tokens=50, cost="0.01")
        response = admin_client.get(reverse("admin:accounts_user_change", args=[user.pk]))
        assert response.status_code == 200
        assert "50 tokens · 0.0100" in response.content.decode()
