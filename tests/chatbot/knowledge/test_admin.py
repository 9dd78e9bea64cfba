"""The knowledge base in the admin: list with usage, edit re-cuts the chunks, upload with a
per-file report, the search tester, knowledge gaps drafted into articles in one click."""

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from chatbot.knowledge.models import Article, KnowledgeGap
from chatbot.knowledge.services import article_save, knowledge_gap_record
from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory, WidgetKeyFactory

pytestmark = pytest.mark.django_db

ARTICLES = "/admin/knowledge/article/"


@pytest.fixture
def staff(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True, username="manager"))
    return client


def test_the_article_list_shows_usage(staff):
    article = article_save(title="Returns", body="Return within 30 days.").article
    Article.objects.filter(pk=article.pk).update(retrieved_count=7, cited_count=3)
    page = staff.get(ARTICLES).content.decode()
    assert "Returns" in page and "Search tester" in page and "Upload files" in page
    assert '<td class="field-retrieved_count">7</td>' in page
    assert '<td class="field-cited_count">3</td>' in page


def test_editing_the_body_recuts_and_reindexes_the_chunks(staff):
    from chatbot.knowledge.retrieval import knowledge_search

    article = article_save(title="Returns", body="Return within 30 days.").article
    response = staff.post(
        f"{ARTICLES}{article.pk}/change/",
        {
            "title": "Returns",
            "body": "# Policy\n\nReturn within 60 days, free of charge.",
            "language": "en",
            "tags": "[]",
            "public_url": "",
            "published": "on",
            "chunks-TOTAL_FORMS": "1",
            "chunks-INITIAL_FORMS": "1",
            "chunks-MIN_NUM_FORMS": "0",
            "chunks-MAX_NUM_FORMS": "1000",
            "chunks-0-id": str(article.chunks.get().pk),
            "chunks-0-article": str(article.pk),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [chunk] = Article.objects.get(pk=article.pk).chunks.all()
    assert chunk.heading_path == ["Policy"] and "60 days" in chunk.text
    assert knowledge_search(query="free of charge", widget_key_id=None)[0].article_id == article.pk


def test_upload_imports_files_and_reports_each_failure(staff):
    key = WidgetKeyFactory()
    response = staff.post(
        f"{ARTICLES}upload/",
        {
            "files": [
                SimpleUploadedFile("faq.csv", b"question,answer\nGift wrap?,Free.\nCards?,Yes.\n"),
                SimpleUploadedFile("bad.json", b"{nope"),
            ],
            "widget_keys": [str(key.pk)],
        },
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Added: 2" in page and "Failed: 1" in page and "bad.json: not valid JSON" in page
    article = Article.objects.get(title="Gift wrap?")
    assert list(article.widget_keys.all()) == [key]
    # Uploading the same file again changes nothing.
    staff.post(
        f"{ARTICLES}upload/",
        {
            "files": [
                SimpleUploadedFile("faq.csv", b"question,answer\nGift wrap?,Free.\nCards?,Yes.\n")
            ]
        },
    )
    assert Article.objects.count() == 2


def test_upload_refuses_a_file_over_the_limit(staff, settings):
    settings.KNOWLEDGE_UPLOAD_MAX_BYTES = 10
    response = staff.post(
        f"{ARTICLES}upload/", {"files": [SimpleUploadedFile("big.md", b"# Big\n\n" + b"x" * 50)]}
    )
    assert response.status_code == 200 and "larger than 10 bytes" in response.content.decode()
    assert not Article.objects.exists()


def test_the_search_tester_ranks_chunks_with_scores_for_a_key(staff):
    key = WidgetKeyFactory(name="Shop A")
    article_save(title="Shipping", body="Parcels arrive in 3 days.")
    article_save(title="Partner shipping", body="Partner parcels.", widget_key_ids=[key.pk])
    page = staff.get(f"{ARTICLES}search/", {"query": "parcels", "limit": 10}).content.decode()
    assert "1 result" in page and "Partner shipping" not in page
    page = staff.get(
        f"{ARTICLES}search/", {"query": "parcels", "widget_key": str(key.pk), "limit": 10}
    ).content.decode()
    assert "2 results" in page and "Partner shipping" in page
    assert "<td>1</td>\n      <td>0." in page  # rank and score


def test_the_search_tester_needs_permission(client):
    client.force_login(UserFactory(is_staff=True, username="agent-without-perms"))
    assert client.get(f"{ARTICLES}search/", {"query": "x"}).status_code == 403


def test_a_gap_is_drafted_into_an_article_from_the_agents_answer(staff):
    conversation = ConversationFactory()
    question = MessageFactory(conversation=conversation, content="Do you sell gift cards?")
    MessageFactory(
        conversation=conversation, role=Message.Role.STAFF, content="Yes, from 10 euros."
    )
    gap = knowledge_gap_record(question=question.content, reason="no_match", message=question)
    page = staff.get("/admin/knowledge/knowledgegap/").content.decode()
    assert "Do you sell gift cards?" in page
    response = staff.post(
        "/admin/knowledge/knowledgegap/",
        {"action": "draft_articles", "_selected_action": [str(gap.pk)]},
    )
    article = Article.objects.get()
    assert response.status_code == 302 and response.url.endswith(f"/{article.pk}/change/")
    assert (article.title, article.body, article.published) == (
        "Do you sell gift cards?",
        "Yes, from 10 euros.",
        False,
    )
    gap.refresh_from_db()
    assert gap.status == KnowledgeGap.Status.DRAFTED and gap.drafted_article == article


def test_drafting_needs_the_right_to_add_articles(client):
    user = UserFactory(is_staff=True, username="viewer")
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_knowledgegap", "change_knowledgegap"])
    )
    client.force_login(user)
    gap = knowledge_gap_record(question="Anything?", reason="no_match")
    response = client.post(
        "/admin/knowledge/knowledgegap/",
        {"action": "draft_articles", "_selected_action": [str(gap.pk)]},
    )
    assert response.status_code == 403 and not Article.objects.exists()
