"""Staff read transcripts in the admin; managers edit model preferences there."""

import pytest

from accounts.models import ModelPreference
from tests.factories import ConversationFactory, MessageFactory, UserFactory, WidgetKeyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="agent"))
    return client


@pytest.fixture
def transcript():
    conversation = ConversationFactory(title="Lost parcel")
    MessageFactory(conversation=conversation, content="Where is my parcel #77?")
    MessageFactory(
        conversation=conversation,
        role="assistant",
        content="It ships today.",
        model="gpt-test",
        prompt_tokens=12,
        completion_tokens=4,
        latency_ms=321,
    )
    return conversation


def test_conversation_list_shows_counts_and_searches_message_content(staff_client, transcript):
    ConversationFactory(title="Other")
    page = staff_client.get("/admin/conversations/conversation/")
    assert page.status_code == 200
    assert "Lost parcel" in page.text and "Other" in page.text
    found = staff_client.get("/admin/conversations/conversation/", {"q": "parcel #77"})
    assert "Lost parcel" in found.text and "Other" not in found.text
    filtered = staff_client.get(
        "/admin/conversations/conversation/", {"status__exact": "open", "flagged": "no"}
    )
    assert filtered.status_code == 200 and "Lost parcel" in filtered.text


def test_transcript_is_readable_in_order_and_read_only(staff_client, transcript):
    page = staff_client.get(f"/admin/conversations/conversation/{transcript.pk}/change/")
    assert page.status_code == 200
    body = page.text
    assert body.index("Where is my parcel #77?") < body.index("It ships today.")
    assert "gpt-test" in body and "12+4 tokens" in body and "321 ms" in body
    assert 'name="_save"' not in body  # view-only: no save button


def test_conversation_list_query_count_does_not_grow_with_rows(
    staff_client, django_assert_max_num_queries
):
    for _ in range(15):
        MessageFactory(conversation=ConversationFactory())
    with django_assert_max_num_queries(12):
        assert staff_client.get("/admin/conversations/conversation/").status_code == 200


def test_manager_edits_a_users_model_preference_inline(staff_client):
    customer = UserFactory()
    page = staff_client.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert page.status_code == 200 and "Model preference" in page.text
    ModelPreference.objects.create(user=customer, model="gpt-a", persona="Be brief.")
    page = staff_client.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert "gpt-a" in page.text and "Be brief." in page.text


def test_widget_key_identity_secret_is_shown_once_and_never_listed(staff_client):
    key = WidgetKeyFactory()
    response = staff_client.post(
        "/admin/accounts/widgetkey/",
        {"action": "rotate_identity_secret", "_selected_action": [str(key.pk)]},
        follow=True,
    )
    assert "New identity secret" in response.text
    secret = response.text.split("New identity secret for ")[1].split(": ")[1].split(" ")[0]
    assert secret.startswith("wks_")
    key.refresh_from_db()
    assert secret not in key.identity_secret_encrypted
    for url in ("/admin/accounts/widgetkey/", f"/admin/accounts/widgetkey/{key.pk}/change/"):
        page = staff_client.get(url)
        assert secret not in page.text and "set" in page.text


@pytest.mark.parametrize(
    "url",
    ["/admin/conversations/moderationflag/", "/admin/accounts/widgetkey/", "/admin/accounts/user/"],
)
def test_admin_pages_render(staff_client, url):
    assert staff_client.get(url).status_code == 200


def test_customers_cannot_open_the_admin(client):
    client.force_login(UserFactory())
    response = client.get("/admin/conversations/conversation/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
