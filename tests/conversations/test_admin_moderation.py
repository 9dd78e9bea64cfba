"""The moderation review queue in the admin, driven as a staff member would."""

import pytest
from django.test import Client
from django.urls import reverse

from chatbot.moderation.services import moderation_flags_review
from conversations.models import ModerationFlag
from tests.factories import ConversationFactory, MessageFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:conversations_moderationflag_changelist"


@pytest.fixture
def staff():
    return UserFactory(username="reviewer", is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _flag(categories, *, status="open", conversation=None, **extra):
    message = MessageFactory(conversation=conversation or ConversationFactory())
    return ModerationFlag.objects.create(
        message=message,
        source="input",
        categories=categories,
        rule=f"rule:{categories[0]}",
        action="flagged",
        review_status=status,
        **extra,
    )


def _listed(response):
    assert response.status_code == 200
    return {str(f.pk) for f in response.context["cl"].queryset}


def test_bulk_confirm_and_dismiss_record_reviewer_and_time(staff_client, staff):
    a, b, c = _flag(["pii/email"]), _flag(["harassment"]), _flag(["injection"])
    url = reverse(CHANGELIST)
    response = staff_client.post(url, {"action": "confirm_flags", "_selected_action": [a.pk, b.pk]})
    assert response.status_code == 302
    response = staff_client.post(url, {"action": "dismiss_flags", "_selected_action": [c.pk]})
    assert response.status_code == 302
    for flag, status in ((a, "confirmed"), (b, "confirmed"), (c, "dismissed")):
        flag.refresh_from_db()
        assert flag.review_status == status
        assert flag.reviewer == staff and flag.reviewed_at is not None


def test_reopen_clears_the_review(staff_client):
    flag = _flag(["pii/email"], status="confirmed")
    staff_client.post(
        reverse(CHANGELIST), {"action": "reopen_flags", "_selected_action": [flag.pk]}
    )
    flag.refresh_from_db()
    assert (flag.review_status, flag.reviewer, flag.reviewed_at) == ("open", None, None)


def test_review_from_the_form_records_reviewer_and_note(staff_client, staff):
    flag = _flag(["harassment"])
    url = reverse("admin:conversations_moderationflag_change", args=[flag.pk])
    page = staff_client.get(url)
    assert page.status_code == 200 and "open transcript" in page.content.decode()
    response = staff_client.post(url, {"review_status": "dismissed", "note": "banter"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert (flag.review_status, flag.note, flag.reviewer) == ("dismissed", "banter", staff)
    assert flag.reviewed_at is not None


def test_filters_by_category_and_status(staff_client):
    email = _flag(["pii/email", "pii/phone"])
    harassment = _flag(["harassment"])
    done = _flag(["harassment"], status="dismissed")
    url = reverse(CHANGELIST)
    assert _listed(staff_client.get(url, {"category": "pii/phone"})) == {str(email.pk)}
    assert _listed(staff_client.get(url, {"category": "harassment"})) == {
        str(harassment.pk),
        str(done.pk),
    }
    assert _listed(
        staff_client.get(url, {"category": "harassment", "review_status__exact": "open"})
    ) == {str(harassment.pk)}
    # "harassment" must not match "harassment/threatening" and vice versa.
    assert _listed(staff_client.get(url, {"category": "harassment/threatening"})) == set()
    page = staff_client.get(url).content.decode()
    assert "?category=pii%2Femail" in page and "By category" in page


def test_conversation_list_shows_and_filters_open_flags(staff_client):
    flagged = ConversationFactory(title="has an open flag")
    _flag(["pii/email"], conversation=flagged)
    reviewed = ConversationFactory(title="reviewed only")
    _flag(["pii/email"], conversation=reviewed, status="confirmed")
    clean = ConversationFactory(title="clean")
    url = reverse("admin:conversations_conversation_changelist")
    assert _listed(staff_client.get(url, {"flagged": "yes"})) == {str(flagged.pk)}
    assert _listed(staff_client.get(url, {"flagged": "no"})) == {str(reviewed.pk), str(clean.pk)}
    listed = staff_client.get(url).context["cl"].result_list
    rows = {str(c.pk): c.open_flag_total > 0 for c in listed}
    assert rows == {str(flagged.pk): True, str(reviewed.pk): False, str(clean.pk): False}


def test_transcript_link_points_at_the_message(staff_client):
    flag = _flag(["injection"])
    page = staff_client.get(reverse(CHANGELIST)).content.decode()
    target = reverse("admin:conversations_conversation_change", args=[flag.message.conversation_id])
    assert f"{target}#msg-{flag.message_id}" in page
    transcript = staff_client.get(target).content.decode()
    assert f'id="msg-{flag.message_id}"' in transcript and "rule:injection" in transcript


def test_non_staff_cannot_review(client):
    customer = UserFactory()
    client.force_login(customer)
    assert client.get(reverse(CHANGELIST)).status_code == 302  # to the admin login


def test_review_service_rejects_unknown_status(staff):
    flag = _flag(["pii/email"])
    with pytest.raises(ValueError):
        moderation_flags_review(flags=[flag.pk], reviewer=staff, status="maybe")
