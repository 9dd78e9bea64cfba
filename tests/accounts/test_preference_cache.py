"""The per-customer preference (with budget and allowed models) and the model catalogue are
cached in Redis for the hot path, and dropped the moment a manager saves them."""

import json

import pytest
from django import forms
from django.core.cache import cache

from accounts.models import ModelPreference
from accounts.selectors import model_preference_resolve, preference_cache_key
from chatbot.models import LLMEndpoint, LLMModel
from chatbot.prompt.trimming import context_window_for
from chatbot.routing.selectors import CATALOGUE_CACHE_KEY, catalogue_windows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="manager"))
    return client


def _change_form_data(page, user, **preference) -> dict:
    """The user's admin change form as the browser would post it, with `preference`
    fields changed in the inline."""
    form = page.context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None and k not in ("password", "groups", "user_permissions")
    }
    data["date_joined_0"] = user.date_joined.strftime("%Y-%m-%d")
    data["date_joined_1"] = user.date_joined.strftime("%H:%M:%S")
    data.pop("date_joined", None)
    data.pop("last_login", None)
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(
            {f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()}
        )
        for i, f in enumerate(formset.forms):
            for name, field in f.fields.items():
                value = f.initial.get(name, field.initial)
                if name == "id" and f.instance.pk:
                    value = f.instance.pk
                if name == "user":
                    value = user.pk
                if isinstance(field, forms.ModelMultipleChoiceField):
                    value = [getattr(v, "pk", v) for v in value or []]
                elif isinstance(field, forms.JSONField):
                    value = json.dumps(value)
                if value is not None:
                    data[f"{formset.prefix}-{i}-{name}"] = value
            for name, value in preference.items():
                data[f"{formset.prefix}-0-{name}"] = value
    return data


def test_a_resolved_preference_is_served_from_the_cache_without_a_query(
    django_assert_num_queries,
):
    user = UserFactory()
    ModelPreference.objects.create(user=user, model="gpt-a", monthly_token_budget=500)
    assert model_preference_resolve(user_id=user.pk).model == "gpt-a"  # fills the cache
    with django_assert_num_queries(0):
        again = model_preference_resolve(user_id=user.pk)
    assert (again.model, again.monthly_token_budget) == ("gpt-a", 500)


def test_a_customer_without_a_preference_is_cached_too(django_assert_num_queries, settings):
    user = UserFactory()
    model_preference_resolve(user_id=user.pk)
    with django_assert_num_queries(0):
        assert model_preference_resolve(user_id=user.pk).model == settings.LLM_MODEL


def test_the_admin_saving_a_preference_drops_the_cached_copy(staff_client):
    user = UserFactory()
    ModelPreference.objects.create(user=user, model="gpt-old", monthly_token_budget=100)
    assert model_preference_resolve(user_id=user.pk).model == "gpt-old"
    assert cache.get(preference_cache_key(user.pk)) is not None

    page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/")
    data = _change_form_data(page, user, model="gpt-new", monthly_token_budget="900")
    response = staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data)
    assert response.status_code == 302, response.context and response.context["errors"]

    resolved = model_preference_resolve(user_id=user.pk)
    assert (resolved.model, resolved.monthly_token_budget) == ("gpt-new", 900)


def test_the_admin_changing_allowed_models_drops_the_cached_copy(staff_client):
    endpoint = LLMEndpoint.objects.create(name="ep", base_url="http://127.0.0.1:1/v1")
    allowed = LLMModel.objects.create(name="gpt-allowed", endpoint=endpoint)
    user = UserFactory()
    ModelPreference.objects.create(user=user, model="gpt-allowed")
    assert model_preference_resolve(user_id=user.pk).allowed_models == ()

    page = staff_client.get(f"/admin/accounts/user/{user.pk}/change/")
    data = _change_form_data(page, user, allowed_models=[allowed.pk])
    assert staff_client.post(f"/admin/accounts/user/{user.pk}/change/", data).status_code == 302

    assert model_preference_resolve(user_id=user.pk).allowed_models == ("gpt-allowed",)


def test_deleting_a_preference_drops_the_cached_copy(settings):
    user = UserFactory()
    preference = ModelPreference.objects.create(user=user, model="gpt-gone")
    assert model_preference_resolve(user_id=user.pk).model == "gpt-gone"
    preference.delete()
    assert model_preference_resolve(user_id=user.pk).model == settings.LLM_MODEL


def test_the_catalogue_is_cached_and_dropped_when_the_admin_saves_a_model(
    staff_client, django_assert_num_queries, settings
):
    cache.delete(CATALOGUE_CACHE_KEY)
    endpoint = LLMEndpoint.objects.create(name="ep", base_url="http://127.0.0.1:1/v1")
    model = LLMModel.objects.create(name="gpt-window", endpoint=endpoint, context_window=8000)
    assert context_window_for("gpt-window") == 8000
    with django_assert_num_queries(0):
        assert catalogue_windows() == {"gpt-window": 8000}
        assert context_window_for("unknown") == settings.LLM_DEFAULT_CONTEXT_WINDOW

    page = staff_client.get(f"/admin/chatbot/llmmodel/{model.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data["endpoint"] = endpoint.pk
    data["context_window"] = 16000
    response = staff_client.post(f"/admin/chatbot/llmmodel/{model.pk}/change/", data)
    assert response.status_code == 302, response.context and response.context["errors"]
    assert context_window_for("gpt-window") == 16000


def test_redis_down_the_preference_comes_from_the_database(monkeypatch):
    user = UserFactory()
    ModelPreference.objects.create(user=user, model="gpt-db")

    def unreachable(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(cache, "get", unreachable)
    monkeypatch.setattr(cache, "set", unreachable)
    assert model_preference_resolve(user_id=user.pk).model == "gpt-db"
    assert catalogue_windows() == {}
